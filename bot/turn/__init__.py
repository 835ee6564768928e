"""A resident's turn as flows and domain services see it: the context (session, conversation, identity, reading, replies), buttons and replies, slots and how a message fills them."""
