"""The HTTP gateway: the ASGI app, its routes and middleware.

``create_app`` is imported on first use, so the gateway's pure parts (validation, limits,
middleware) import without building the whole runtime.
"""

from __future__ import annotations

from typing import Any

__all__ = ["close_app", "create_app"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from clientevents.server import app

        return getattr(app, name)
    raise AttributeError(f"module 'clientevents.server' has no attribute {name!r}")
