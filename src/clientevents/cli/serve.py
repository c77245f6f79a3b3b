"""``clientevents serve``: the gateway (uvicorn) and the workers, on one machine.

The gateway runs in this process under uvicorn (uvloop + httptools); the workers (router,
dispatchers, archiver) run in a second process started with ``clientevents worker``, so both
cores work. SIGINT or SIGTERM stops the gateway gracefully (in-flight requests finish), then the
workers (SIGTERM, then SIGKILL after a grace period). If the worker process dies on its own, the
gateway stops too and the command exits with status 1, so a supervisor restarts both. On Linux
the worker is also told to stop if this process dies without cleaning up (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import click

from clientevents import __version__
from clientevents.config import Settings, default_settings, load_config
from clientevents.errors import ConfigError
from clientevents.server.accesslog import ACCESS_LOGGER, configure_access_log

logger = logging.getLogger("clientevents.serve")

#: Seconds the worker process gets to finish after SIGTERM before it is killed.
WORKER_STOP_GRACE_SECS = 30.0


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
def serve(
    host: str | None,
    port: int | None,
    data_dir: Path | None,
    config_file: Path | None,
    workers: bool,
) -> None:
    """Run the HTTP gateway and the workers until SIGINT or SIGTERM."""
    _setup_logging()
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
        sock = socket.create_server((host, port), reuse_port=False)
    except OSError as exc:
        raise click.ClickException(f"Cannot listen on {host}:{port}: {exc}.") from None
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _raise_stop)
    # The worker starts before any thread exists here (the runtime starts one): a forked
    # child with a pre-exec hook must not inherit locks held by other threads.
    worker = _start_worker(config_file, data_path) if workers else None
    code = 0
    try:
        code = _run_gateway(settings, data_path, sock, worker)
    except _Stop:
        pass
    finally:
        if worker is not None:
            _stop_worker(worker)
    sys.exit(code)


class _Stop(Exception):
    """SIGINT or SIGTERM arrived: stop the gateway, then the workers."""


def _raise_stop(signum: int, frame: Any) -> None:
    raise _Stop(signum)


def _run_gateway(
    settings: Settings, data_path: Path, sock: socket.socket, worker: subprocess.Popen[bytes] | None
) -> int:
    import uvicorn

    from clientevents.server.app import create_app

    app = create_app(settings, data_dir=data_path)
    bound_host, bound_port = sock.getsockname()[:2]
    config = uvicorn.Config(
        app,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=10,
        server_header=False,
    )
    server = uvicorn.Server(config)
    _print_banner(settings, data_path, app, f"http://{bound_host}:{bound_port}", worker)
    worker_died = threading.Event()
    if worker is not None:
        threading.Thread(
            target=_watch_worker, args=(worker, server, worker_died), daemon=True,
            name="clientevents-worker-watch",
        ).start()
    try:
        server.run(sockets=[sock])
    except _Stop:
        # uvicorn re-raises the signal that stopped it once it has shut down.
        pass
    return 1 if worker_died.is_set() else 0


def _start_worker(config_file: Path | None, data_path: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "clientevents", "worker", "--data-dir", str(data_path)]
    if config_file is not None:
        command += ["--config", str(config_file)]
    return subprocess.Popen(command, preexec_fn=_parent_death_hook())


def _parent_death_hook() -> Any:
    # Linux only: the kernel sends SIGTERM to the worker when this process dies (even by
    # SIGKILL). The library is loaded here, before the fork; the child only makes the call.
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    term = int(signal.SIGTERM)

    def hook() -> None:
        prctl(1, term)  # PR_SET_PDEATHSIG

    return hook


def _watch_worker(
    worker: subprocess.Popen[bytes], server: Any, died: threading.Event
) -> None:
    code = worker.wait()
    if not server.should_exit:
        logger.error("The worker process exited with status %s; stopping the gateway.", code)
        died.set()
        server.should_exit = True


def _stop_worker(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is not None:
        return
    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(timeout=WORKER_STOP_GRACE_SECS)
    except subprocess.TimeoutExpired:
        logger.error("The worker process did not stop within %ss; killing it.",
                     WORKER_STOP_GRACE_SECS)
        worker.kill()
        worker.wait()


def _print_banner(
    settings: Settings,
    data_path: Path,
    app: Any,
    url: str,
    worker: subprocess.Popen[bytes] | None,
) -> None:
    lines = [f"clientevents {__version__} serving {url}"]
    lines.append(f"  data dir        {data_path} (database {data_path / 'clientevents.db'})")
    for stage in settings.stages:
        lines.append(f"  ingest          POST {url}/{stage.name}/event  (bus {stage.bus}, "
                     f"detail-type {stage.environment})")
    pool = settings.identity.user_pool
    if pool is not None and pool.enabled:
        lines.append(f"  user pool id    {pool.id}")
        lines.append(f"  app client id   {pool.client_id}")
        lines.append(f"  cognito-idp     aws cognito-idp ... --endpoint-url {url} "
                     f"--client-id {pool.client_id}")
    for line in _admin_lines(app):
        lines.append(line)
    lines.append(f"  health          {url}/health   ready {url}/ready   metrics {url}/metrics")
    lines.append("  workers         " + (f"process {worker.pid}" if worker else "not started"))
    lines.append("Press Ctrl-C to stop.")
    click.echo("\n".join(lines))
    sys.stdout.flush()


def _admin_lines(app: Any) -> list[str]:
    identity = app.state.gateway.identity
    creds = getattr(identity, "admin_credentials", None)
    if creds is None:
        return []
    generated = bool(getattr(identity, "admin_credentials_generated", False))
    suffix = " (generated at first start)" if generated else ""
    lines = [f"  admin key id    {creds.access_key_id}{suffix}"]
    if generated:
        lines.append(f"  admin secret    {creds.secret_access_key}")
    return lines


def _setup_logging() -> None:
    level = os.environ.get("CLIENTEVENTS_LOG_LEVEL", "INFO").upper()
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        root.addHandler(handler)
    root.setLevel(level)
    if not logging.getLogger(ACCESS_LOGGER).handlers:
        configure_access_log(sys.stdout)
