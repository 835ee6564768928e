"""Handoffs to a human agent: opening, the context card, the queue, claim/reply/resolve, and residents' ratings of them."""
