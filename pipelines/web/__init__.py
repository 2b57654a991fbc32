"""`invsync serve`: the REST API (/api/v1) and the web console over the same warehouse.

`create_app(settings)` builds the FastAPI application; `serve(settings, host, port)` runs it on
uvicorn. See README, "Web console and REST API".
"""

from pipelines.web.app import check_can_serve, create_app, serve

__all__ = ["check_can_serve", "create_app", "serve"]
