"""The channels residents come through: the web widget (HTTP and WebSocket), the WeChat Official Account and the REST
channel for integrations. Only bot/main.py imports them."""
