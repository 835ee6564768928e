"""The HTTP routers of the staff pages and the public API (FastAPI): validation at the edge, who may call (deps.py),
then a call into the domain packages. The OpenAPI document as the app really answers (openapi.py)."""
