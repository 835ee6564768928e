"""The resident flows (Rasa's "actions"): the turn's context and slots, binding a household, fee lookup, repairs and
repair status, parking, callbacks, neighbour disputes. Each asks for what is missing one question at a time and does
the real work against the database."""
