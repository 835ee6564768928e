"""wuye bot."""
