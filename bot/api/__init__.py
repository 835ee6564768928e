"""HTTP routers of the FastAPI application."""
