"""wuye connectors."""
