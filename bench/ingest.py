"""Ingest throughput: the gateway against a bare endpoint (the ceiling) and against moto.

Run ``.venv/bin/python -m bench.ingest`` (or ``--quick`` for a short smoke run). It starts:

- a server process (granian with one worker on uvloop, as ``clientevents serve`` runs it;
  ``--server uvicorn`` for uvicorn + uvloop + httptools) serving the gateway on the
  blueprint's configuration *and*, in the same process, a bare
  endpoint ``POST /bench/bare`` that only reads and parses the body and answers 200: the
  ceiling of this server stack on this machine;
- moto's server (``moto_server``) on loopback, answering ``PutEvents`` with the same 10 entries;
- a load generator on loopback: ``wrk`` with a Lua script when it is installed
  (``apt-get install -y wrk``), else an asyncio + httpx client. It shares the machine's cores
  with the servers, so every figure is a loopback figure on this machine, not a network one.

Every request carries the blueprint body with 10 entries; the gateway requests carry a real
access token from the built-in user pool (signed up, confirmed and signed in through the
Cognito API at the start), so authentication, validation and the durable group-committed
append are all on. The per-client rate limit is on, with a bucket large enough not to refuse.
It prints requests/s, events/s, p50 and p99 latency per target and concurrency, and the
gateway's ratio to the ceiling and to moto. The workers (router, dispatchers) are not running:
this measures ingest alone. Further rows, each in the same run:

- ``gateway-Np``: the gateway served by N granian worker processes (``--processes 1,2``: one
  and two), sharing the listening socket, each with its own writer to the same database;
- ``many``: the one-process gateway with ``--users`` (10,000) distinct signed-in users, each
  request carrying one of their tokens at random (wrk picks it in Lua), so that first
  verifications and the caches are exercised; its ratio to ``gateway`` at each level;
- ``rate-Np``: a constant offered load of ``--rate`` requests a second (5,000 = 50,000
  events/s) from :mod:`bench.openloop`, latency measured from each request's due time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.users import make_tokens

SAMPLE_ENTRIES = [
    {"eventType": "shopping", "schemaVersion": 1, "data": {"itemSku": 123}},
    {"eventType": "searching", "schemaVersion": 1, "data": {"searchTerm": "games"}},
    {"eventType": "paging", "schemaVersion": 2, "data": {"searchTerm": "games", "page": 3}},
    {"eventType": "purchase", "schemaVersion": 2, "data": {"itemSku": 123}},
    {"eventType": "loyaltypurchase", "schemaVersion": 2, "data": {"itemSku": 123},
     "ticket": {"ticket": {"subject": "Loyalty customer purchase",
                           "comment": {"body": "This customer has made a loyalty purchase"}}}},
]
ENTRIES_PER_REQUEST = 10
BARE_PATH = "/bench/bare"
PASSWORD = "Bench-passw0rd!"


def ingest_body() -> bytes:
    """The blueprint's request body with 10 entries (each a JSON string, as clients send)."""
    entries = [
        {"entry": json.dumps(SAMPLE_ENTRIES[i % len(SAMPLE_ENTRIES)])}
        for i in range(ENTRIES_PER_REQUEST)
    ]
    return json.dumps({"entries": entries}).encode()


def moto_body() -> bytes:
    """The same 10 events as a PutEvents request to moto's default bus."""
    entries = [
        {"Source": "clientevents", "DetailType": "prod", "EventBusName": "default",
         "Resources": ["0f6c3c0e-1b7a-4a8e-9d61-2f5c7a8b9e10"],
         "Detail": json.dumps(SAMPLE_ENTRIES[i % len(SAMPLE_ENTRIES)])}
        for i in range(ENTRIES_PER_REQUEST)
    ]
    return json.dumps({"Entries": entries}).encode()


# -- the server process -----------------------------------------------------------------------


def bench_settings(data_dir: Path) -> Any:
    """The blueprint with a rate limit that is on but never refuses this benchmark."""
    from clientevents.config import validate_settings
    from clientevents.config.defaults import BLUEPRINT

    config = json.loads(json.dumps(BLUEPRINT))
    for stage in config["stages"]:
        stage["rate_limit"] = {"requests_per_sec": 1_000_000.0, "burst": 1_000_000}
    config["data_dir"] = str(data_dir)
    return validate_settings(config, file="<bench>", environ={})


def build_server_app(data_dir: Path) -> Any:
    """The gateway plus the bare ceiling endpoint, in one ASGI app."""
    import orjson

    from clientevents.server.accesslog import configure_access_log
    from clientevents.server.app import create_app

    # As `clientevents serve` logs (block-buffered, flushed on a timer), into a file.
    configure_access_log(open(data_dir / "access.log", "a", encoding="utf-8"))  # noqa: SIM115
    gateway = create_app(bench_settings(data_dir), data_dir=data_dir)
    ok = b'{"ok":true}'

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == BARE_PATH:
            chunks = []
            more = True
            while more:
                message = await receive()
                chunks.append(message.get("body", b""))
                more = message.get("more_body", False)
            orjson.loads(b"".join(chunks))
            await send({"type": "http.response.start", "status": 200, "headers": [
                (b"content-type", b"application/json"), (b"content-length", b"11")]})
            await send({"type": "http.response.body", "body": ok})
            return
        await gateway(scope, receive, send)

    return app


def granian_factory() -> Any:
    """The same app for granian (``--server granian``), which imports its target by name."""
    return build_server_app(Path(os.environ["BENCH_INGEST_DATA_DIR"]))


def server_command(server: str, port: int, data_dir: Path, workers: int = 1) -> list[str]:
    """How the benchmark starts its server process, under uvicorn or granian (``workers``
    processes; uvicorn always runs one)."""
    if server == "granian":
        granian = shutil.which("granian") or str(Path(sys.executable).parent / "granian")
        return [granian, "--interface", "asgi", "--host", "127.0.0.1", "--port", str(port),
                "--workers", str(workers), "--loop", "uvloop", "--http", "1", "--no-ws",
                "--log-level", "warning", "--factory", "bench.ingest:granian_factory"]
    return [sys.executable, "-m", "bench.ingest", "--serve", "--port", str(port),
            "--data-dir", str(data_dir)]


def serve(port: int, data_dir: Path) -> None:
    """Run the benchmark's server process (called with ``--serve``)."""
    import uvicorn

    config = uvicorn.Config(
        build_server_app(data_dir), host="127.0.0.1", port=port, loop="uvloop",
        http="httptools", ws="none", lifespan="on", access_log=False, log_level="warning",
        server_header=False,
    )
    uvicorn.Server(config).run()


# -- load generation --------------------------------------------------------------------------


@dataclass
class Result:
    """One load run against one target at one concurrency."""

    target: str
    concurrency: int
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    failures: int
    p999_ms: float | None = None
    max_ms: float | None = None

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def eps(self) -> float:
        return self.rps * ENTRIES_PER_REQUEST


_WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = io.open("{body}", "rb"):read("*a")
{headers}
done = function(summary, latency, requests)
  io.write(string.format("WRK %d %d %d %d %d %d %d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write, summary.errors.timeout))
end
"""


_WRK_TOKENS = """
tokens = {{}}
for line in io.lines("{tokens}") do tokens[#tokens + 1] = "Bearer " .. line end
math.randomseed(os.time())
request = function()
  wrk.headers["Authorization"] = tokens[math.random(#tokens)]
  return wrk.format()
end
"""


def run_wrk(
    target: str, url: str, body: bytes, headers: dict[str, str], concurrency: int,
    seconds: float, workdir: Path, tokens: Path | None = None,
) -> Result:
    """One wrk run; non-2xx answers and socket errors count as failures. With ``tokens`` (a
    file of one token a line) each request carries one of them at random."""
    body_file = workdir / f"{target}.body"
    body_file.write_bytes(body)
    script = workdir / f"{target}.lua"
    lines = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items())
    if tokens is not None:
        lines += _WRK_TOKENS.format(tokens=tokens)
    script.write_text(_WRK_SCRIPT.format(body=body_file, headers=lines))
    out = subprocess.run(
        ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
         "-s", str(script), url],
        check=True, capture_output=True, text=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("WRK "))
    requests, duration_us, p50, p99, status_errors, socket_errors, timeouts = map(
        int, line.split()[1:]
    )
    return Result(target, concurrency, requests, duration_us / 1e6, p50 / 1000, p99 / 1000,
                  status_errors + socket_errors + timeouts)


async def _httpx_load(
    url: str, body: bytes, headers: dict[str, str], concurrency: int, seconds: float
) -> tuple[list[float], int, float]:
    latencies: list[float] = []
    failures = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30.0) as client:
        deadline = time.perf_counter() + seconds

        async def one_connection() -> None:
            nonlocal failures
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    response = await client.post(url, content=body, headers=headers)
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - started)
                failures += 0 if ok else 1

        started = time.perf_counter()
        await asyncio.gather(*(one_connection() for _ in range(concurrency)))
        return latencies, failures, time.perf_counter() - started


def run_httpx(
    target: str, url: str, body: bytes, headers: dict[str, str], concurrency: int,
    seconds: float,
) -> Result:
    """One run of the asyncio + httpx load generator (when wrk is not installed)."""
    latencies, failures, elapsed = asyncio.run(
        _httpx_load(url, body, headers, concurrency, seconds)
    )
    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies \
            else 0.0

    return Result(target, concurrency, len(latencies), elapsed, pct(0.50), pct(0.99), failures)


# -- set-up: processes, token ------------------------------------------------------------------


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_http(url: str, timeout: float = 30.0) -> None:
    """Wait until ``url`` answers any HTTP status."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer within {timeout} s.") from None
            time.sleep(0.1)


@contextlib.contextmanager
def process(command: list[str], **kwargs: Any) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` for the duration of the block, then stop it (SIGTERM, then SIGKILL)."""
    proc = subprocess.Popen(command, **kwargs)
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def user_pool_token(base_url: str, data_dir: Path, username: str = "bench-user") -> str:
    """Sign up, confirm (code read from the data folder) and sign in; return the access token."""
    import boto3

    from clientevents.config.identity import DEFAULT_CLIENT_ID

    client = boto3.client(
        "cognito-idp", endpoint_url=base_url, region_name="local",
        aws_access_key_id="none", aws_secret_access_key="none",
    )
    client.sign_up(ClientId=DEFAULT_CLIENT_ID, Username=username, Password=PASSWORD,
                   UserAttributes=[{"Name": "email", "Value": f"{username}@example.com"}])
    code = latest_code(data_dir, username)
    client.confirm_sign_up(ClientId=DEFAULT_CLIENT_ID, Username=username, ConfirmationCode=code)
    answer = client.initiate_auth(
        ClientId=DEFAULT_CLIENT_ID, AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD},
    )
    token: str = answer["AuthenticationResult"]["AccessToken"]
    return token


def latest_code(data_dir: Path, username: str) -> str:
    """The last confirmation code the file notifier wrote for ``username``."""
    path = data_dir / "codes" / "messages.jsonl"
    codes = [
        record["code"]
        for record in map(json.loads, path.read_text().splitlines())
        if record["username"] == username
    ]
    if not codes:
        raise RuntimeError(f"No confirmation code for {username!r} in {path}.")
    code: str = codes[-1]
    return code


def stored_events(data_dir: Path) -> int:
    """Events in the log (a count of what was durably appended)."""
    conn = sqlite3.connect(data_dir / "clientevents.db")
    try:
        return int(conn.execute("SELECT coalesce(sum(count), 0) FROM events").fetchone()[0])
    finally:
        conn.close()


# -- the run ----------------------------------------------------------------------------------


def run(
    quick: bool, levels: list[int], seconds: float, use_wrk: bool, server: str = "granian",
    repeats: int = 1, processes: tuple[int, ...] = (1, 2), users: int = 10_000,
    rate: float = 5_000.0,
) -> list[Result]:
    """Start the servers, measure every target at every level, print the table."""
    workdir = Path(tempfile.mkdtemp(prefix="clientevents-bench-"))
    results: list[Result] = []
    moto_port = free_port()
    moto_url = f"http://127.0.0.1:{moto_port}"
    moto_server = shutil.which("moto_server") or str(Path(sys.executable).parent / "moto_server")
    body = ingest_body()
    answered = 0
    durable = 0
    try:
        with contextlib.ExitStack() as stack:
            servers: dict[int, tuple[str, Path]] = {}
            for count in sorted({1, *processes}):
                if server != "granian" and count > 1:
                    continue
                data_dir = workdir / f"data-{count}p"
                data_dir.mkdir()
                port = free_port()
                env = {**os.environ,
                       "PYTHONPATH": os.pathsep.join([str(Path.cwd()), *sys.path]),
                       "BENCH_INGEST_DATA_DIR": str(data_dir)}
                stack.enter_context(process(server_command(server, port, data_dir, count),
                                            env=env))
                servers[count] = (f"http://127.0.0.1:{port}", data_dir)
            stack.enter_context(process([moto_server, "-H", "127.0.0.1", "-p", str(moto_port)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            for base, _ in servers.values():
                wait_http(base + "/health")
            wait_http(moto_url)
            targets: list[tuple[str, str, bytes, dict[str, str], Path | None]] = []
            base, data_dir = servers[1]
            gw_headers: dict[str, dict[str, str]] = {}
            for url, folder in servers.values():
                token = user_pool_token(url, folder)
                gw_headers[url] = {"Content-Type": "application/json",
                                   "Authorization": f"Bearer {token}"}
                check = httpx.post(url + "/prod/event", content=body,
                                   headers=gw_headers[url]).json()
                assert check["FailedEntryCount"] == 0, check
            targets.append(("ceiling", base + BARE_PATH, body,
                            {"Content-Type": "application/json"}, None))
            for count, (url, _) in servers.items():
                name = "gateway" if count == 1 else f"gateway-{count}p"
                targets.append((name, url + "/prod/event", body, gw_headers[url], None))
            tokens_file: Path | None = None
            if users > 1 and use_wrk:
                started = time.monotonic()
                tokens_file = workdir / "tokens.txt"
                tokens_file.write_text("\n".join(
                    make_tokens(bench_settings(data_dir), data_dir, users, prefix="many")))
                print(f"{users} users signed up and in ({time.monotonic() - started:.0f} s)",
                      flush=True)
                targets.append(("many", base + "/prod/event", body,
                                {"Content-Type": "application/json"}, tokens_file))
            m_body = moto_body()
            m_headers = {
                "Content-Type": "application/x-amz-json-1.1",
                "X-Amz-Target": "AWSEvents.PutEvents",
                "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/"
                                 "events/aws4_request, SignedHeaders=host, Signature=0",
            }
            moto_check = httpx.post(moto_url + "/", content=m_body, headers=m_headers).json()
            assert moto_check["FailedEntryCount"] == 0, moto_check
            targets.append(("moto", moto_url + "/", m_body, m_headers, None))
            before = sum(stored_events(folder) for _, folder in servers.values())
            print(f"server: {server}; gateway processes {', '.join(map(str, servers))}; "
                  f"{seconds:g} s a run, {repeats} repeat(s) interleaved; medians", flush=True)
            for level in levels:
                for name, url, payload, headers, tokens in targets:
                    runs = []
                    for _ in range(repeats):
                        if use_wrk:
                            runs.append(run_wrk(name, url, payload, headers, level, seconds,
                                                workdir, tokens))
                        else:
                            runs.append(run_httpx(name, url, payload, headers, level, seconds))
                    if name.startswith(("gateway", "many")):
                        answered += sum(r.requests - r.failures for r in runs)
                    runs.sort(key=lambda r: r.rps)
                    result = runs[len(runs) // 2]
                    result.failures = sum(r.failures for r in runs)
                    results.append(result)
                    print(_row(result), flush=True)
            if rate > 0:
                for count, (url, _) in servers.items():
                    result = run_open_loop(f"rate-{count}p", url + "/prod/event", body,
                                           gw_headers[url], rate, seconds, workdir)
                    answered += result.requests - result.failures
                    results.append(result)
                    print(_row(result), flush=True)
            durable = sum(stored_events(folder) for _, folder in servers.values()) - before
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    _summary(results, answered, durable, use_wrk)
    return results


def run_open_loop(
    target: str, url: str, body: bytes, headers: dict[str, str], rate: float, seconds: float,
    workdir: Path,
) -> Result:
    """A constant-rate run of :mod:`bench.openloop` in its own process."""
    body_file = workdir / f"{target}.body"
    body_file.write_bytes(body)
    command = [sys.executable, "-m", "bench.openloop", "--url", url, "--rate", str(rate),
               "--seconds", str(seconds), "--body-file", str(body_file)]
    for name, value in headers.items():
        command += ["--header", f"{name}:{value}"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path.cwd()), *sys.path])}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"bench.openloop failed:\n{done.stderr[-3000:]}")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    result = Result(target, int(rate), int(summary["answered"]), float(summary["seconds"]),
                    float(summary["p50_ms"]), float(summary["p99_ms"]),
                    int(summary["failures"]))
    result.p999_ms = float(summary["p999_ms"])
    result.max_ms = float(summary["max_ms"])
    return result


def _row(r: Result) -> str:
    if r.target.startswith("rate-"):
        return (f"{r.target:10} offered {r.concurrency} req/s: {r.rps:8.0f} req/s "
                f"{r.eps:9.0f} events/s  from due time: p50 {r.p50_ms:7.2f} ms  "
                f"p99 {r.p99_ms:7.2f} ms  p99.9 {r.p999_ms or 0:7.2f} ms  "
                f"max {r.max_ms or 0:7.2f} ms  failures {r.failures}")
    return (f"{r.target:10} c={r.concurrency:<4} {r.rps:10.0f} req/s {r.eps:10.0f} events/s "
            f"p50 {r.p50_ms:7.2f} ms  p99 {r.p99_ms:7.2f} ms  failures {r.failures}")


def _summary(results: list[Result], answered: int, durable: int, use_wrk: bool) -> None:
    print()
    print(f"load generator: {'wrk (1 thread)' if use_wrk else 'asyncio + httpx'} on loopback, "
          f"sharing {os.cpu_count()} cores with the servers")
    by_key = {(r.target, r.concurrency): r for r in results}
    gateways = sorted({r.target for r in results if r.target.startswith("gateway")})
    for level in sorted({r.concurrency for r in results if not r.target.startswith("rate")}):
        ceil, moto, many = (by_key.get((t, level)) for t in ("ceiling", "moto", "many"))
        parts = [f"c={level:<4}"]
        for name in gateways:
            gw = by_key.get((name, level))
            if gw is None:
                continue
            if ceil is not None and ceil.rps:
                parts.append(f"{name}/ceiling {gw.rps / ceil.rps:6.3f}")
            if name == "gateway" and moto is not None and moto.rps:
                parts.append(f"gateway/moto {gw.rps / moto.rps:6.2f}")
            if name == "gateway" and many is not None and gw.rps:
                parts.append(f"many/gateway {many.rps / gw.rps:6.3f}")
        print("   ".join(parts))
    for name in gateways:
        best = max((r for r in results if r.target == name), key=lambda r: r.rps)
        print(f"best {name}: {best.rps:.0f} req/s = {best.eps:.0f} events/s "
              f"at c={best.concurrency}")
    print(f"durable events appended during the runs: {durable} "
          f"(gateway requests counted as answered x {ENTRIES_PER_REQUEST} = "
          f"{answered * ENTRIES_PER_REQUEST}; wrk does not count requests still in flight "
          "when its window closes, which were appended too)")


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="One short run at one level.")
    parser.add_argument("--levels", default="16,64,128", help="Concurrency levels.")
    parser.add_argument("--seconds", type=float, default=10.0, help="Seconds a run.")
    parser.add_argument("--client", choices=("auto", "wrk", "httpx"), default="auto")
    parser.add_argument("--server", choices=("uvicorn", "granian"), default="granian",
                        help="ASGI server of the measured process (granian: pip install it).")
    parser.add_argument("--repeats", type=int, default=1, help="Runs per point (median).")
    parser.add_argument("--processes", default="1,2",
                        help="Gateway process counts to measure (granian workers).")
    parser.add_argument("--users", type=int, default=None,
                        help="Signed-in users of the many-users row (10,000; --quick: 200).")
    parser.add_argument("--rate", type=float, default=None,
                        help="Requests a second of the constant-rate rows (5,000; --quick: "
                             "500; 0 = none).")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.port, args.data_dir)
        return
    levels = [8] if args.quick else [int(x) for x in args.levels.split(",")]
    seconds = 1.0 if args.quick else args.seconds
    use_wrk = args.client == "wrk" or (args.client == "auto" and shutil.which("wrk") is not None)
    users = args.users if args.users is not None else (200 if args.quick else 10_000)
    rate = args.rate if args.rate is not None else (500.0 if args.quick else 5_000.0)
    processes = tuple(int(x) for x in args.processes.split(","))
    run(args.quick, levels, seconds, use_wrk, args.server, 1 if args.quick else args.repeats,
        processes, users, rate)


if __name__ == "__main__":
    main()
