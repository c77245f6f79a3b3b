"""The console (``/console``, static files in the package) and the admin API's mount point.

The console is plain HTML, CSS and JavaScript modules under ``clientevents/server/console``
(no build step). The files hold no data; the page asks the admin API for everything, after
sign-in. Both are served only when ``console.enabled`` is true, each response with the strict
security headers of :class:`~clientevents.server.adminauth.SecurityHeaders`.
"""

from __future__ import annotations

from pathlib import Path

from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from clientevents.identity.admin import admin_credentials
from clientevents.server.adminauth import AdminAuth, SecurityHeaders
from clientevents.server.gateway import Gateway
from clientevents.server.routes.admin import admin_app

__all__ = ["CONSOLE_DIR", "console_routes"]

CONSOLE_DIR = Path(__file__).resolve().parents[1] / "console"
"""The console's static files."""


def console_routes(gateway: Gateway) -> list[BaseRoute]:
    """``/admin/api`` and ``/console`` (none when the console is disabled)."""
    admin = gateway.admin
    if admin is None:
        return []
    credentials = gateway.identity.admin_credentials
    if credentials is None:  # no user pool: the key is still the deployment's admin key
        credentials, _ = admin_credentials(gateway.settings.identity, gateway.data_dir)
    auth = AdminAuth(admin.accounts, credentials)
    files = StaticFiles(directory=CONSOLE_DIR, html=True)
    return [
        Mount("/admin/api", app=admin_app(admin, auth), name="admin_api"),
        Mount("/console", app=SecurityHeaders(files, cache=b"no-cache"), name="console"),
    ]
