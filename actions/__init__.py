"""wuye actions."""
