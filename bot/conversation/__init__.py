"""The conversation engine: one resident turn, from the message to the stored replies (orchestration)."""
