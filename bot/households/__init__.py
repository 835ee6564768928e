"""Households (the rooms residents bind to) and what they owe: the bill summary the fee flow answers with and the agent's
context card shows."""
