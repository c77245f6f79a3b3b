"""``clientevents gateway``: the HTTP gateway alone, without workers.

The gateway keeps no state of its own: everything it accepts is in the event log before it
answers 200, and everything it reads (users, sessions, keys) is in the state store. Any number
of gateway processes, on any number of machines sharing the storage, may run behind a load
balancer; ``clientevents worker`` processes (any number) route and deliver what they accept.
``clientevents serve`` runs both on one machine. The options are ``serve``'s HTTP options
(``docs/deployment.md`` shows the systemd units and a container example).
"""

from __future__ import annotations

from pathlib import Path

import click

from clientevents.cli.serve import run_http

__all__ = ["gateway"]


@click.command("gateway")
@click.option("--host", default=None, help="Address to listen on [default: server.host].")
@click.option("--port", type=int, default=None, help="TCP port; 0 = any free one "
              "[default: server.port].")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder of the database and local files [default: data_dir, ./data].")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Configuration file [default: the embedded blueprint].")
@click.option("--http-server", type=click.Choice(["granian", "uvicorn"]), default="granian",
              show_default=True, help="The ASGI server that runs the gateway.")
@click.option("--http-workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Gateway processes sharing the port (granian only); see docs/performance.md.")
def gateway(
    host: str | None,
    port: int | None,
    data_dir: Path | None,
    config_file: Path | None,
    http_server: str,
    http_workers: int,
) -> None:
    """Run the HTTP gateway alone (no workers) until SIGINT or SIGTERM.

    Run `clientevents worker` beside it, on the same storage, to route and deliver. It prints
    where it listens, the user pool's ids and (at the first start) the admin key, then the
    access log.

    \b
    Example:
      clientevents gateway --port 8080 --data-dir data --http-workers 2
      clientevents worker --data-dir data
    """
    run_http(host=host, port=port, data_dir=data_dir, config_file=config_file,
             workers=False, http_server=http_server, http_workers=http_workers,
             command="gateway")
