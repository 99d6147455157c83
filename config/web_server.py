"""The web server: N ASGI server processes (uvicorn or daphne) sharing one port.

`python -m config.web_server --workers N --port 8000` is the site's web process. It is a small
parent that binds the port once per child, SO_REUSEPORT, so the kernel spreads connections
evenly over the children (on one shared socket the first process awake takes a whole burst),
starts N server processes on those sockets, restarts one that dies (its socket stays open in
the parent, so connections wait for it instead of being refused), and stops them all on SIGTERM.
When every child serves it prints one line, "web: N uvicorn processes serving
http://host:port/", to stdout.

Both servers cap an incoming websocket message (and daphne a frame) at 16 KiB before the app
sees it; HTTP bodies are bounded by the app (config.body_limit). Behind a proxy pass
`--proxy-headers` (and, for uvicorn, `--forwarded-allow-ips` the proxy's address) so the client
address the app sees (django-axes' lockouts) is the browser's.

No access log unless `--access-log` (make run's): the TLS proxy in front keeps one, and a log
line for every request was 3% of an order placement's CPU in bench_orders.

Benches, browser tests and `make run` use `web_command`/`start_web`/`stop` from here.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import functools
import gc
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from config.ws_load import raise_open_files_limit

ROOT = Path(__file__).resolve().parent.parent
APPLICATION = "config.asgi:application"
SERVERS = ("uvicorn", "daphne")
KEEP_ALIVE_SECONDS = 75  # nginx's upstream keepalive_timeout is 60 s
DEFAULT_SERVER = "uvicorn"  # bench_broadcast: at 5,000 clients it keeps p99 lower on less CPU
# Browsers send nothing on our sockets; a bigger message is dropped before the app sees it.
WEBSOCKET_MAX_MESSAGE_BYTES = 16 * 1024
UVICORN_WS = "websockets-sansio"
STARTUP_SECONDS = 60
GRACE_SECONDS = 8  # children's time to close their sockets on SIGTERM before they are killed
READY_LINE = re.compile(r"^web: (\d+) (\w+) processes serving http://(\S+):(\d+)/$")


def web_command(
    python: str,
    port: int,
    workers: int,
    server: str = DEFAULT_SERVER,
    host: str = "127.0.0.1",
    proxy_headers: bool = False,
    access_log: bool = False,
) -> list[str]:
    """The web process: `workers` server processes on host:port (port 0: a free one)."""
    if server not in SERVERS:
        raise ValueError(f"unknown web server {server!r}: choose one of {', '.join(SERVERS)}")
    command = [python, "-m", "config.web_server", "--server", server, "--host", host]
    command += ["--port", str(port), "--workers", str(workers)]
    command += ["--proxy-headers"] if proxy_headers else []
    return command + (["--access-log"] if access_log else [])


def start_web(
    env: dict[str, str] | None = None,
    port: int | None = None,
    workers: int | None = None,
    server: str | None = None,
    access_log: bool = False,
) -> tuple[subprocess.Popen, int]:
    """Start the web process and wait until every child serves; (process, port).

    Without a port the parent binds a free one itself (no race with another process picking
    the same number). The children inherit this process's environment plus `env`: give the
    same DJANGO_SETTINGS_MODULE and DATABASE_URL as the caller's so both see one database.
    Its logs go nowhere (set HAPORI_WEB_LOG=path to keep them)."""
    log_path = os.environ.get("HAPORI_WEB_LOG", "")
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115 (closed below)
    try:
        process = subprocess.Popen(
            web_command(
                sys.executable,
                port or 0,
                workers or 1,
                server or DEFAULT_SERVER,
                access_log=access_log,
            ),
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=log,
            preexec_fn=_die_with_parent,  # a crashed bench leaves no server behind
        )
    finally:
        if log_path:
            log.close()  # type: ignore[union-attr]
    assert process.stdout is not None
    deadline = time.monotonic() + STARTUP_SECONDS
    line = b""
    while time.monotonic() < deadline and process.poll() is None:
        readable, _, _ = select.select([process.stdout], [], [], 0.2)
        if readable:
            line = process.stdout.readline()
            break
    match = READY_LINE.match(line.decode().strip())
    if match is None:
        stop(process)
        raise RuntimeError(
            f"the web server did not start within {STARTUP_SECONDS} s "
            f"(exit code {process.returncode}); set HAPORI_WEB_LOG=/tmp/web.log to see why"
        )
    process.stdout.close()  # it prints nothing more
    return process, int(match.group(4))


def stop(process: subprocess.Popen) -> None:
    """Stop the web process and its children (they also die with it, see _die_with_parent)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=GRACE_SECONDS + 4)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def server_processes(process: subprocess.Popen) -> list[int]:
    """The web process and its children: the pids whose CPU a bench counts."""
    import psutil

    parent = psutil.Process(process.pid)
    return [parent.pid, *(child.pid for child in parent.children(recursive=True))]


# --- the parent -------------------------------------------------------------------------------


def _listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host.strip("[]"), port))
    sock.listen(socket.SOMAXCONN)  # thousands of displays reconnect at once after a restart
    sock.set_inheritable(True)
    return sock


def _die_with_parent() -> None:
    """In a child before exec: a SIGKILLed parent takes its servers with it (Linux)."""
    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):  # not Linux: stop() still ends them
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)


def serve(
    server: str,
    host: str,
    port: int,
    workers: int,
    proxy_headers: bool,
    allow: str,
    access_log: bool = False,
) -> int:
    if workers < 1:
        raise SystemExit("--workers must be 1 or more")
    limit = raise_open_files_limit()
    first = _listening_socket(host, port)
    port = first.getsockname()[1]
    sockets = [first, *(_listening_socket(host, port) for _ in range(workers - 1))]
    ready_read, ready_write = os.pipe()
    os.set_inheritable(ready_write, True)
    stopping = False

    def spawn(sock: socket.socket) -> subprocess.Popen:
        command = [sys.executable, "-m", "config.web_server", "--child", server]
        command += ["--fd", str(sock.fileno()), "--ready-fd", str(ready_write)]
        command += ["--proxy-headers"] if proxy_headers else []
        command += ["--forwarded-allow-ips", allow] if allow else []
        command += ["--access-log"] if access_log else []
        return subprocess.Popen(
            command,
            cwd=ROOT,
            pass_fds=(sock.fileno(), ready_write),
            stdout=sys.stderr.fileno(),  # stdout is the ready line's alone (daphne's access log)
            preexec_fn=_die_with_parent,  # safe: this parent runs no threads
        )

    def on_signal(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    children = [spawn(sock) for sock in sockets]
    ready, announced = 0, False
    quick_deaths = 0
    started = [time.monotonic()] * workers
    while not stopping:
        try:
            readable, _, _ = select.select([ready_read], [], [], 0.5)
        except InterruptedError:
            continue
        if readable:
            ready += len(os.read(ready_read, 64))
        if not announced and ready >= workers:
            announced = True
            print(f"web: {workers} {server} processes serving http://{host}:{port}/", flush=True)
            print(f"web: open files limit {limit} per process", file=sys.stderr, flush=True)
        for n, child in enumerate(children):
            if child.poll() is None or stopping:
                continue
            lived = time.monotonic() - started[n]
            quick_deaths = quick_deaths + 1 if lived < 10 else 0
            if quick_deaths > 2 * workers or not announced:
                print(f"web: {server} exits with {child.returncode} at start", file=sys.stderr)
                stopping = True
                break
            print(
                f"web: {server} process {child.pid} exited ({child.returncode}); restarting",
                file=sys.stderr,  # stdout carried the one ready line; its reader has gone
                flush=True,
            )
            children[n], started[n] = spawn(sockets[n]), time.monotonic()
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    return 0 if announced else 1


# --- a child: one server process on an inherited socket ----------------------------------------


def _signal_ready(ready_fd: int) -> None:
    # Django, Channels and the app loaded are some 200,000 objects that live as long as the
    # process: a full garbage collection walking them all takes 100 ms and more, a pause every
    # socket's push waits out. Frozen, later collections walk only what came since.
    gc.freeze()
    os.write(ready_fd, b".")
    os.close(ready_fd)


def run_uvicorn(fd: int, ready_fd: int, proxy_headers: bool, allow: str, access_log: bool) -> None:
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started:
                _signal_ready(ready_fd)

    config = uvicorn.Config(
        APPLICATION,
        loop="uvloop",
        http="httptools",
        ws=UVICORN_WS,
        ws_max_size=WEBSOCKET_MAX_MESSAGE_BYTES,
        # Pushes are small JSON and go to thousands of sockets: compressing each copy would
        # cost more CPU than the bytes saved on a LAN.
        ws_per_message_deflate=False,
        lifespan="off",
        proxy_headers=proxy_headers,  # off unless asked: uvicorn's default trusts localhost
        forwarded_allow_ips=allow or None,
        timeout_graceful_shutdown=GRACE_SECONDS - 2,
        # Longer than a client's (or the proxy's) own idle limit, so they close an idle
        # connection first: a server closing it races a request just sent on it, which the
        # client sees as "connection closed" (uvicorn's 5 s default: 1 in 5,000 orders at 200/s).
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        server_header=False,
        access_log=access_log,
    )
    Server(config).run(sockets=[socket.socket(fileno=fd)])


def run_daphne(fd: int, ready_fd: int, proxy_headers: bool, access_log: bool) -> None:
    from daphne.cli import CommandLineInterface
    from daphne.server import Server

    size = str(WEBSOCKET_MAX_MESSAGE_BYTES)
    cli = CommandLineInterface()
    cli.server_class = functools.partial(Server, ready_callable=lambda: _signal_ready(ready_fd))
    cli.run(
        [
            "--fd",
            str(fd),
            "--websocket-max-message-size",
            size,
            "--websocket-max-frame-size",
            size,
            *(["--proxy-headers"] if proxy_headers else []),
            # Daphne writes its access log at verbosity 1 (its default); 0 writes none.
            *([] if access_log else ["--verbosity", "0"]),
            APPLICATION,
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m config.web_server", description=__doc__)
    parser.add_argument("--server", choices=SERVERS, default=DEFAULT_SERVER)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0: a free port")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--proxy-headers", action="store_true", help="trust X-Forwarded-*")
    parser.add_argument("--access-log", action="store_true", help="a line for every request")
    parser.add_argument(
        "--forwarded-allow-ips", default="", help="uvicorn: the proxy addresses to trust"
    )
    parser.add_argument("--child", choices=SERVERS, help=argparse.SUPPRESS)
    parser.add_argument("--fd", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--ready-fd", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child == "uvicorn":
        run_uvicorn(
            args.fd, args.ready_fd, args.proxy_headers, args.forwarded_allow_ips, args.access_log
        )
        return 0
    if args.child == "daphne":
        run_daphne(args.fd, args.ready_fd, args.proxy_headers, args.access_log)
        return 0
    return serve(
        args.server,
        args.host,
        args.port,
        args.workers,
        args.proxy_headers,
        args.forwarded_allow_ips,
        args.access_log,
    )


if __name__ == "__main__":
    raise SystemExit(main())
