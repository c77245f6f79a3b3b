"""``clientevents serve``: the gateway and the workers, on one machine.

The gateway runs under granian (its HTTP in Rust threads, the ASGI app on a uvloop event loop
in one granian worker process, or in ``--http-workers`` processes sharing the port) or, with
``--http-server uvicorn``, under uvicorn (uvloop + httptools) in this process;
``docs/gateway.md`` gives the measurements behind the default. The
workers (router, dispatchers, archiver) run in another process started with ``clientevents
worker``, so both cores work.

Before anything serves, this process opens the database once (every component's tables exist
before two processes race to create them) and builds the identity component (the admin key is
generated on the first start), so it can print the URL, the user pool's ids and the new admin
key. SIGINT or SIGTERM stops the gateway gracefully (in-flight requests finish), then the
workers (SIGTERM, then SIGKILL after a grace period). If the worker process dies on its own, it
is started again after a back-off (:mod:`clientevents.cli.supervise`); if the gateway dies, the
command stops the workers and exits with status 1, so a supervisor (systemd, Kubernetes)
restarts it. On Linux the worker and the gateway processes are also told to stop if this
process dies without cleaning up (``PR_SET_PDEATHSIG``), so the port is freed for the restart.

Slow clients are cut off (``server.header_read_timeout_secs``) and the open connections bounded
(``server.max_connections``) in both HTTP servers (:mod:`clientevents.server.connlimits`).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import click

from clientevents import __version__
from clientevents.cli.options import setup_logging
from clientevents.cli.supervise import (
    ENV_SERVE_PID,
    WorkerSupervisor,
    die_with_parent,
    worker_command,
)
from clientevents.config import Settings, default_settings, load_config
from clientevents.errors import ConfigError
from clientevents.server.accesslog import ACCESS_LOGGER, configure_access_log
from clientevents.server.connlimits import ConnectionLimits, connection_limits
from clientevents.store.factory import describe_store

logger = logging.getLogger("clientevents.serve")

#: How the granian worker process learns what to serve (set by this command, read by
#: :func:`gateway_app`).
ENV_CONFIG = "CLIENTEVENTS_SERVE_CONFIG"
ENV_DATA_DIR = "CLIENTEVENTS_SERVE_DATA_DIR"


@click.command("serve")
@click.option("--host", default=None, help="Address to listen on [default: server.host].")
@click.option("--port", type=int, default=None, help="TCP port; 0 = any free one "
              "[default: server.port].")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder of the database and local files [default: data_dir, ./data].")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Configuration file [default: the embedded blueprint].")
@click.option("--workers/--no-workers", default=True, show_default=True,
              help="Also run the workers (in a second process).")
@click.option("--http-server", type=click.Choice(["granian", "uvicorn"]), default="granian",
              show_default=True, help="The ASGI server that runs the gateway.")
@click.option("--http-workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Gateway processes sharing the port (granian only); see docs/performance.md.")
def serve(
    host: str | None,
    port: int | None,
    data_dir: Path | None,
    config_file: Path | None,
    workers: bool,
    http_server: str,
    http_workers: int,
) -> None:
    """Run the HTTP gateway and the workers until SIGINT or SIGTERM.

    It prints where it listens, the user pool's ids and (at the first start) the admin key,
    then the access log; errors and the workers' logs go to standard error.

    \b
    Example:
      clientevents serve --port 8080 --data-dir data
      clientevents serve --config clientevents.yaml
    """
    run_http(host=host, port=port, data_dir=data_dir, config_file=config_file,
             workers=workers, http_server=http_server, http_workers=http_workers)


def run_http(
    *,
    host: str | None,
    port: int | None,
    data_dir: Path | None,
    config_file: Path | None,
    workers: bool,
    http_server: str,
    http_workers: int,
    command: str = "serve",
) -> None:
    """``serve``'s body, shared with ``clientevents gateway`` (``workers=False``): listen,
    print the banner, run the HTTP server until a signal, then stop the workers; exits."""
    _setup_logging()
    if http_workers > 1 and http_server != "granian":
        raise click.BadParameter(
            f"{http_workers} gateway processes need --http-server granian; uvicorn runs one.",
            param_hint="--http-workers",
        )
    if command == "gateway" or http_workers > 1:
        # Several processes serve: per-client limits live in the store, unless told otherwise.
        from clientevents.ratelimit.shared import ENV_SHARED

        os.environ.setdefault(ENV_SHARED, "1")
    try:
        settings = load_config(config_file) if config_file else default_settings()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if data_dir is not None:
        settings = settings.with_data_dir(data_dir)
    data_path = Path(settings.data_dir)
    host = host or settings.server.host
    port = settings.server.port if port is None else port
    if not 0 <= port <= 65535:
        raise click.BadParameter(f"{port} is not a TCP port (0..65535).", param_hint="--port")
    try:
        sock = socket.create_server((host, port))
    except OSError as exc:
        raise click.ClickException(f"Cannot listen on {host}:{port}: {exc}.") from None
    port = sock.getsockname()[1]
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _raise_stop)
    banner = _prepare(settings, data_path, host)
    limits = connection_limits(settings.server)
    url = f"http://{host}:{port}"
    # API destinations whose endpoint is a gateway path (the built-in ticket inbox) call it.
    from clientevents.targets.api_destination.target import GATEWAY_URL_ENV

    worker_env = {GATEWAY_URL_ENV: _local_url(host, port)}
    worker = (
        WorkerSupervisor(worker_command(config_file, data_path), env=worker_env)
        if workers
        else None
    )
    if worker is not None:
        worker.start()
    code = 0
    try:
        click.echo(_banner_text(settings, data_path, url, banner, worker,
                                f"{http_server} ({http_workers} process"
                                f"{'es' if http_workers > 1 else ''})", command=command))
        sys.stdout.flush()
        if http_server == "uvicorn":
            code = _run_uvicorn(settings, data_path, sock, limits)
        else:
            sock.close()  # granian binds the address itself
            code = _run_granian(config_file, data_path, host, port, limits, http_workers)
    except _Stop:
        pass
    finally:
        if worker is not None:
            worker.stop()
    sys.exit(code)




class _Stop(Exception):
    """SIGINT or SIGTERM arrived: stop the gateway, then the workers."""


def _raise_stop(signum: int, frame: Any) -> None:
    raise _Stop(signum)


def _prepare(settings: Settings, data_path: Path, host: str) -> dict[str, Any]:
    """Create every table and the identity's keys once; return what the banner shows (with a
    one-time console sign-in token when the gateway listens on loopback)."""
    from clientevents.admin.accounts import ConsoleAccounts
    from clientevents.cli.console import is_loopback
    from clientevents.identity import build_identity
    from clientevents.runtime import Runtime
    from clientevents.store.datadir import warn_if_wider

    warn_if_wider(data_path)
    runtime = Runtime(settings, data_path)
    try:
        identity = build_identity(settings, runtime.db, data_path)
        info: dict[str, Any] = {
            "admin": identity.admin_credentials,
            "admin_generated": identity.admin_credentials_generated,
        }
        console = settings.console
        if console.enabled:
            accounts = ConsoleAccounts(runtime.db)
            if console.sign_in_link and is_loopback(host):
                info["console_link"] = accounts.create_link(console.sign_in_link_ttl_secs)
        return info
    finally:
        runtime.close()


# -- granian ------------------------------------------------------------------------------


def gateway_app() -> Any:
    """The app factory granian's worker process calls (see :data:`ENV_CONFIG`)."""
    from clientevents.server.app import create_app

    _setup_logging()
    die_with_parent()  # the gateway stops when serve is killed, and frees the port
    config = os.environ.get(ENV_CONFIG) or None
    settings = load_config(config) if config else default_settings()
    data_path = Path(os.environ[ENV_DATA_DIR])
    return create_app(settings.with_data_dir(data_path), data_dir=data_path)


def _run_granian(
    config_file: Path | None,
    data_path: Path,
    host: str,
    port: int,
    limits: ConnectionLimits,
    processes: int = 1,
) -> int:
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.http import HTTP1Settings

    os.environ[ENV_CONFIG] = str(config_file.resolve()) if config_file else ""
    os.environ[ENV_DATA_DIR] = str(data_path.resolve())
    os.environ[ENV_SERVE_PID] = str(os.getpid())
    server = Granian(
        "clientevents.cli.serve:gateway_app",
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=processes,
        loop=Loops.uvloop,
        http=HTTPModes.http1,
        websockets=False,
        backlog=1024,
        # granian holds one permit per open connection: the connection limit.
        backpressure=limits.max_connections,
        http1_settings=HTTP1Settings(
            header_read_timeout=max(1, round(limits.header_read_timeout_secs * 1000))
        ),
        log_access=False,
        workers_kill_timeout=30,
    )
    try:
        server.serve()
    except SystemExit as exc:
        if getattr(server, "interrupt_signal", False):
            # Ctrl-C in a terminal reaches every process of the group: a gateway process
            # still starting dies of it before granian's own handler runs, and granian then
            # exits with status 1 although it was asked to stop.
            return 0
        # granian exits with status 1 when its worker process (the gateway) dies.
        logger.error("The gateway process exited; stopping. status=%s", exc.code)
        return 1 if exc.code in (None, 0) else int(exc.code) if isinstance(exc.code, int) else 1
    return 0


# -- uvicorn ------------------------------------------------------------------------------


def _run_uvicorn(
    settings: Settings, data_path: Path, sock: socket.socket, limits: ConnectionLimits
) -> int:
    import uvicorn

    from clientevents.server.app import create_app
    from clientevents.server.uvicorn_protocol import header_timeout_protocol

    app = create_app(settings, data_dir=data_path)
    config = uvicorn.Config(
        app, loop="uvloop", http=header_timeout_protocol(limits.header_read_timeout_secs),
        ws="none", lifespan="on", access_log=False, log_config=None,
        timeout_graceful_shutdown=10, server_header=False,
        timeout_keep_alive=max(1, round(limits.header_read_timeout_secs)),
        limit_concurrency=limits.max_connections, backlog=1024,
    )
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    except _Stop:
        # uvicorn re-raises the signal that stopped it once it has shut down.
        pass
    return 0


# -- the worker process -------------------------------------------------------------------


def _local_url(host: str, port: int) -> str:
    """The gateway's URL as the workers on this machine reach it (a wildcard host: loopback)."""
    if host in ("0.0.0.0", "", "::"):
        host = "127.0.0.1" if host != "::" else "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


# -- output -------------------------------------------------------------------------------


def _banner_text(
    settings: Settings,
    data_path: Path,
    url: str,
    info: dict[str, Any],
    worker: WorkerSupervisor | None,
    http_server: str,
    *,
    command: str = "serve",
) -> str:
    verb = "serving" if command == "serve" else "gateway serving"
    lines = [f"clientevents {__version__} {verb} {url}"]
    lines.append(f"  data dir        {data_path}")
    lines.append(f"  state store     {describe_store(settings, data_path)}")
    for stage in settings.stages:
        lines.append(f"  ingest          POST {url}/{stage.name}/event  (bus {stage.bus}, "
                     f"detail-type {stage.environment})")
    pool = settings.identity.user_pool
    if pool is not None and pool.enabled:
        lines.append(f"  user pool id    {pool.id}")
        lines.append(f"  app client id   {pool.client_id}")
        lines.append(f"  cognito-idp     aws cognito-idp ... --endpoint-url {url} "
                     f"--client-id {pool.client_id}")
    creds = info.get("admin")
    if creds is not None:
        generated = bool(info.get("admin_generated"))
        suffix = " (generated at first start)" if generated else ""
        lines.append(f"  admin key id    {creds.access_key_id}{suffix}")
        if generated:
            lines.append(f"  admin secret    {creds.secret_access_key}")
    if any(d.invocation_endpoint.startswith("/inbox/") for d in settings.api_destinations):
        lines.append(f"  ticket inbox    GET {url}/inbox/tickets  (API destinations without "
                     "an external URL deliver here)")
    if settings.console.enabled:
        link = info.get("console_link")
        if link:
            from clientevents.cli.console import sign_in_url

            minutes = settings.console.sign_in_link_ttl_secs // 60
            lines.append(f"  console         {sign_in_url(url, link)}")
            lines.append(f"                  (a one-time sign-in link, usable for {minutes} min; "
                         "`clientevents console sign-in-link` makes another)")
        else:
            lines.append(f"  console         {url}/console/  (accounts: clientevents console "
                         "add-user)")
    lines.append(f"  health          {url}/health   ready {url}/ready   metrics {url}/metrics")
    lines.append(f"  http server     {http_server}")
    if worker is not None:
        lines.append(f"  workers         process {worker.pid}")
    elif command == "gateway":
        lines.append("  workers         none here (run `clientevents worker` on the same "
                     "storage)")
    else:
        lines.append("  workers         not started")
    lines.append("Press Ctrl-C to stop.")
    return "\n".join(lines)


def _setup_logging() -> None:
    setup_logging()
    if not logging.getLogger(ACCESS_LOGGER).handlers:
        configure_access_log(sys.stdout)
