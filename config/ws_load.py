"""Many websocket clients in several processes, for benches: who got which push, and when.

    with LoadClients("ws://127.0.0.1:8000", clients=5000, kinds=["bench"]) as load:
        ...  # every client is connected and has had its first message; push now
        arrivals = load.wait_for("bench", key=9, timeout=10)  # optional: until all have it
    result = load.results()  # also after the block; load.cpu_seconds too

The clients are split over `processes` fresh interpreters, each one asyncio loop (uvloop when
installed) running the websockets library's Sans-I/O client protocol on raw sockets: while
measuring, a client's work per message is one read, the library's frame parse and an append
of the payload. Each client waits for its first message (the display's
snapshot, the live page's prices) before the run starts; from then on it keeps every message
with its arrival time: on Linux the kernel's receive timestamp of the bytes (SO_TIMESTAMPNS),
else time.time() when read, both in the clock the sender stamps "sent" with. So the load
processes run at the lowest CPU priority: on a machine they share with the server they read
when it has nothing to do, and still report when each copy arrived; their CPU is reported.
Messages are decoded after the run (or when `wait_for` asks), and told apart by kind and a
key: the first of `key_fields` that the data holds.

Pure module: no Django here, so the load processes start in a moment.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import resource
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from websockets.client import ClientProtocol
from websockets.exceptions import InvalidMessage, InvalidStatus
from websockets.frames import OP_BINARY, OP_CONT, OP_TEXT, CloseCode, Frame
from websockets.protocol import CONNECTING, OPEN
from websockets.uri import WebSocketURI, parse_uri

# Handshakes one process has in flight: the server's accept queue and its snapshot queries keep
# up, and thousands of clients still connect in seconds.
CONNECTS_IN_FLIGHT = 64
# One load process keeps up with this many clients at a few pushes a second with room to spare;
# more processes than that only add context switches on a small machine.
CLIENTS_PER_PROCESS = 1250
KEY_FIELDS = ("n", "period_id", "id")
CONNECT_ATTEMPTS = 3
READ_BYTES = 65536
LOAD_NICENESS = 19
# Linux's receive timestamps (socket(7) SO_TIMESTAMPNS; Python names no constant for it): the
# time the kernel queued the bytes on the socket, in time.time()'s clock.
STAMPED = sys.platform == "linux"
SO_TIMESTAMPNS = 35
STAMP_SPACE = socket.CMSG_SPACE(16) if STAMPED else 0

# (kind, key, sent, arrival time) of one message at one client
Seen = tuple[str, Any, float | None, float]


@dataclass(frozen=True)
class Received:
    """One message as the clients got it: which clients, and when."""

    kind: str
    key: Any
    sent: float | None  # the sender's stamp (the message's "sent"), seconds since the epoch
    arrivals: list[tuple[int, float]]  # (client index, arrival time), one per copy received

    def latencies_ms(self) -> list[float]:
        if self.sent is None:
            return []
        return [(at - self.sent) * 1000 for _, at in self.arrivals]

    def clients_reached(self) -> int:
        return len({client for client, _ in self.arrivals})

    def duplicates(self) -> int:
        return len(self.arrivals) - self.clients_reached()


@dataclass(frozen=True)
class LoadResult:
    clients: int
    messages: list[Received]  # the chosen kinds, in order of first arrival
    cpu_seconds: list[float]  # each load process, from all-connected to stop
    connect_cpu_seconds: list[float]  # each load process, while connecting
    connect_retries: int  # handshakes reset or timed out and tried again (at most 3 tries)
    wall_seconds: float  # from all-connected to stop
    closed: int  # clients whose socket closed during the run

    def missing(self) -> int:
        """Copies that did not arrive: each message should have reached every client."""
        return sum(self.clients - m.clients_reached() for m in self.messages)

    def duplicates(self) -> int:
        return sum(m.duplicates() for m in self.messages)

    def latencies_ms(self) -> list[float]:
        return [ms for m in self.messages for ms in m.latencies_ms()]


@dataclass(frozen=True)
class _Spec:
    host: str
    port: int
    paths: list[str]  # one per client of this process
    headers: list[dict[str, str]]  # one per client
    timeout: float
    kinds: list[str]
    key_fields: tuple[str, ...]


@dataclass
class LoadClients:
    """`clients` websocket clients over `processes` processes (default: one per 1,250 clients).
    The first `live_clients` connect to `live_path` with `cookies` round-robin (session cookies,
    "sessionid=..."); the rest to `path`. Only messages of `kinds` are reported."""

    url: str
    clients: int
    processes: int | None = None
    kinds: Iterable[str] = ("bench",)
    path: str = "/ws/display/"
    key_fields: Sequence[str] = KEY_FIELDS
    live_clients: int = 0
    live_path: str = "/ws/live/"
    cookies: Sequence[str] = ()
    origin: str = ""  # default: the server's own http:// origin, as a browser on the site sends
    connect_timeout: float = 120.0
    _workers: list[tuple[subprocess.Popen, Connection]] = field(
        default_factory=list, init=False, repr=False
    )
    _connected_at: float = field(default=0.0, init=False, repr=False)
    _connect_cpu: list[float] = field(default_factory=list, init=False, repr=False)
    _retries: int = field(default=0, init=False, repr=False)
    _result: LoadResult | None = field(default=None, init=False, repr=False)

    def __enter__(self) -> LoadClients:
        if self.clients < 1:
            raise ValueError("LoadClients needs at least one client")
        if self.live_clients and not self.cookies:
            raise ValueError("live clients need session cookies to log in with")
        parts = urlsplit(self.url)
        if parts.scheme != "ws" or not parts.hostname or not parts.port:
            raise ValueError(f"LoadClients speaks plain ws://host:port, not {self.url!r}")
        origin = self.origin or f"http://{parts.hostname}:{parts.port}"
        processes = self.processes or math.ceil(self.clients / CLIENTS_PER_PROCESS)
        processes = max(1, min(processes, self.clients))
        paths, headers = [], []
        for n in range(self.clients):
            hello = {"Origin": origin}
            if n < self.live_clients:
                paths.append(self.live_path)
                hello["Cookie"] = self.cookies[n % len(self.cookies)]
            else:
                paths.append(self.path)
            headers.append(hello)
        try:
            for p in range(processes):
                mine = range(p, self.clients, processes)  # client n: process n % P
                spec = _Spec(
                    host=parts.hostname,
                    port=parts.port,
                    paths=[paths[n] for n in mine],
                    headers=[headers[n] for n in mine],
                    timeout=self.connect_timeout,
                    kinds=list(self.kinds),
                    key_fields=tuple(self.key_fields),
                )
                self._workers.append(_start_worker(spec))
            failed, first_errors = 0, []
            patience = self.connect_timeout * CONNECT_ATTEMPTS + 30
            for _, conn in self._workers:
                if not conn.poll(patience):
                    raise RuntimeError(f"a load process did not report within {patience:.0f} s")
                _, errors, cpu, retries = conn.recv()
                self._connect_cpu.append(cpu)
                self._retries += retries
                failed += len(errors)
                first_errors += errors[:3]
            if failed:
                raise RuntimeError(
                    f"{failed} of {self.clients} websocket clients did not connect to "
                    f"{self.url} and get a first message; first errors: {first_errors[:3]}"
                )
            for _, conn in self._workers:
                conn.send(("go",))  # from here each process clocks its CPU and keeps messages
            for _, conn in self._workers:
                conn.recv()
        except BaseException:
            self._terminate()
            raise
        self._connected_at = time.time()
        return self

    def wait_for(self, kind: str, key: Any, timeout: float) -> list[float]:
        """Arrival times of the message (kind, key) at the clients that have it, waiting until
        every client has it or `timeout` seconds pass (then the clients that had it by then)."""
        deadline = time.monotonic() + timeout
        while True:
            arrivals: list[float] = []
            for _, conn in self._workers:
                conn.send(("find", kind, _hashable(key)))
            for _, conn in self._workers:
                arrivals += conn.recv()
            if len(arrivals) >= self.clients or time.monotonic() >= deadline:
                return arrivals
            time.sleep(0.2)  # each ask decodes in the load processes: not too often

    def results(self) -> LoadResult:
        """Stop every client and gather what each received (once; later calls return it)."""
        if self._result is not None:
            return self._result
        stopped_at = time.time()
        for _, conn in self._workers:
            conn.send(("stop",))
        cpu: list[float] = []
        seen_by_process: list[list[list[Seen]]] = []
        closed = 0
        for _, conn in self._workers:
            process_cpu, process_seen, process_closed = conn.recv()
            cpu.append(process_cpu)
            seen_by_process.append(process_seen)
            closed += process_closed
        self._terminate()
        processes = len(seen_by_process)
        by_message: dict[tuple[str, Any], Received] = {}
        for p, clients in enumerate(seen_by_process):
            for i, seen in enumerate(clients):
                client = i * processes + p
                for kind, key, sent, at in seen:
                    ident = (kind, _hashable(key))
                    if ident not in by_message:
                        by_message[ident] = Received(kind=kind, key=key, sent=sent, arrivals=[])
                    by_message[ident].arrivals.append((client, at))
        ordered = sorted(by_message.values(), key=lambda m: min(at for _, at in m.arrivals))
        self._result = LoadResult(
            clients=self.clients,
            messages=ordered,
            cpu_seconds=cpu,
            connect_cpu_seconds=self._connect_cpu,
            connect_retries=self._retries,
            wall_seconds=stopped_at - self._connected_at,
            closed=closed,
        )
        return self._result

    @property
    def cpu_seconds(self) -> float:
        """The load processes' CPU from all-connected to stop (after `results`), in total."""
        if self._result is None:
            raise RuntimeError("cpu_seconds is known once the clients have stopped (results())")
        return sum(self._result.cpu_seconds)

    def __exit__(self, *exc: object) -> None:
        try:
            if self._result is None and exc[0] is None:
                self.results()
        finally:
            self._terminate()

    def _terminate(self) -> None:
        for worker, conn in self._workers:
            conn.close()
            try:
                worker.wait(timeout=5)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        self._workers.clear()


def raise_open_files_limit() -> int:
    """Lift the soft open-files limit to the hard one (each socket is a file); the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Refused(ConnectionError):
    """The server answered the handshake with a no (an HTTP status, a close code)."""


def _hashable(key: Any) -> Any:
    return json.dumps(key, sort_keys=True) if isinstance(key, dict | list) else key


def _identify(payload: bytes, arrived: float, key_fields: tuple[str, ...]) -> Seen | None:
    try:
        message = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(message, dict) or not isinstance(message.get("kind"), str):
        return None
    data = message.get("data")
    key = None
    if isinstance(data, dict):
        key = next((data[f] for f in key_fields if f in data), None)
    sent = message.get("sent")
    sent = float(sent) if isinstance(sent, int | float) else None
    return message["kind"], key, sent, arrived


def _start_worker(spec: _Spec) -> tuple[subprocess.Popen, Connection]:
    """A fresh interpreter (not a fork: no inherited loop, threads or Django; not
    multiprocessing's spawn, which re-runs the caller's main module) talking over a socket."""
    ours, theirs = socket.socketpair()
    worker = subprocess.Popen(
        [sys.executable, "-m", "config.ws_load", str(theirs.fileno())],
        cwd=Path(__file__).resolve().parent.parent,
        pass_fds=(theirs.fileno(),),
    )
    theirs.close()
    conn = Connection(ours.detach())
    conn.send(spec)
    return worker, conn


class _Client:
    """One websocket client: the websockets library's Sans-I/O protocol on a raw non-blocking
    socket of our own, so each read carries the kernel's receive time, and each message the
    time of the read that completed it."""

    def __init__(self, uri: WebSocketURI, headers: dict[str, str]) -> None:
        # No extensions: a deflated stream would cost the load processes more than the server.
        # No size cap: a display's snapshot is tens of KB, and a bench keeps what it is sent.
        self.protocol = ClientProtocol(uri, max_size=None)
        request = self.protocol.connect()
        for name, value in headers.items():
            request.headers[name] = value
        self.protocol.send_request(request)
        self.loop = asyncio.get_running_loop()
        self.sock: socket.socket | None = None
        self.fragments: list[bytes] = []
        self.messages: list[tuple[float, bytes]] = []
        self.decoded: dict[int, Seen] = {}  # by index into messages, decoded when asked
        self.first: asyncio.Future[None] = self.loop.create_future()
        self.closed_with: int | None = None

    async def open(self, address: tuple[Any, ...], family: int) -> None:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if STAMPED:
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock = sock
        try:
            await self.loop.sock_connect(sock, address)
            await self.loop.sock_sendall(sock, b"".join(self.protocol.data_to_send()))
        except BaseException:
            sock.close()
            raise
        self.loop.add_reader(sock.fileno(), self._readable)
        await self.first

    def _readable(self) -> None:
        assert self.sock is not None
        while True:
            try:
                data, ancillary, _, _ = self.sock.recvmsg(READ_BYTES, STAMP_SPACE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:
                self._lost(error)
                return
            if not data:
                # A refusal without a Content-Length ends at the server's close: read it whole.
                self.protocol.receive_eof()
                self._settle(eof=True)
                return
            self._feed(data, _stamp(ancillary))
            if self.sock is None or len(data) < READ_BYTES:
                return  # closed while reading it, or nothing more waiting

    def _feed(self, data: bytes, at: float) -> None:
        self.protocol.receive_data(data)
        for event in self.protocol.events_received():
            if not isinstance(event, Frame):
                continue  # the handshake's response: the protocol has checked it
            opcode = event.opcode
            if opcode is OP_TEXT or opcode is OP_BINARY or opcode is OP_CONT:
                # Sans-I/O hands over frames; a fragmented message is whole at its last one.
                if not event.fin:
                    self.fragments.append(bytes(event.data))
                    continue
                payload = bytes(event.data)
                if self.fragments:
                    payload = b"".join([*self.fragments, payload])
                    self.fragments = []
                self.messages.append((at, payload))
                if not self.first.done():
                    self.first.set_result(None)
        self._settle(eof=False)

    def _settle(self, eof: bool) -> None:
        """Send what the protocol answers (pongs, the echo of a close), and end the client if
        the server said no, closed, or broke the protocol."""
        protocol = self.protocol
        self._flush()
        refusal = protocol.handshake_exc
        if refusal is not None and not (eof and isinstance(refusal, InvalidMessage)):
            self._fail(_refusal(refusal), Refused)
        elif protocol.state is OPEN or protocol.state is CONNECTING:
            return
        elif protocol.close_rcvd is not None:
            self.closed_with = protocol.close_rcvd.code
            self._fail(f"the server closed the socket with code {self.closed_with}", Refused)
        else:  # the TCP connection ended without a close frame, or the server's frames were bad
            sent = protocol.close_sent
            self.closed_with = sent.code if sent is not None else CloseCode.ABNORMAL_CLOSURE
            self._lost(protocol.parser_exc or refusal)

    def _flush(self) -> None:
        if self.sock is None:
            return
        for data in self.protocol.data_to_send():
            # A full or closed socket: a pong or a close frame is not needed any more.
            with contextlib.suppress(OSError):
                if data:
                    self.sock.send(data)
                else:  # the protocol's end of stream
                    self.sock.shutdown(socket.SHUT_WR)

    def _fail(self, reason: str, error: type[ConnectionError] = ConnectionError) -> None:
        if not self.first.done():
            self.first.set_exception(error(reason))
        self._shut()

    def _lost(self, error: Exception | None) -> None:
        if self.closed_with is None:
            self.closed_with = CloseCode.ABNORMAL_CLOSURE
        self._fail(f"the connection was lost before a first message ({error or 'no close frame'})")

    def _shut(self) -> None:
        if self.sock is not None:
            self.loop.remove_reader(self.sock.fileno())
            self.sock.close()
            self.sock = None

    def close(self) -> None:
        if self.sock is not None:
            self.closed_with = self.closed_with or CloseCode.NORMAL_CLOSURE
            if self.protocol.state is OPEN:
                self.protocol.send_close(CloseCode.NORMAL_CLOSURE)
                self._flush()
            self._shut()

    def decode(self, index: int, key_fields: tuple[str, ...]) -> Seen:
        if index not in self.decoded:
            at, payload = self.messages[index]
            self.decoded[index] = _identify(payload, at, key_fields) or ("", None, None, at)
        return self.decoded[index]

    def find(self, kind: str, key: Any, key_fields: tuple[str, ...]) -> float | None:
        """When the message arrived, if it has. Newest first: what a bench waits for is mostly
        the latest message, and decoding all the others here would hold up this loop while
        copies are still arriving (their arrival times would be late)."""
        for index in range(len(self.messages) - 1, -1, -1):
            k, m, _, at = self.decode(index, key_fields)
            if k == kind and _hashable(m) == key:
                return at
        return None

    def seen(self, key_fields: tuple[str, ...]) -> list[Seen]:
        return [self.decode(index, key_fields) for index in range(len(self.messages))]


def _refusal(error: Exception) -> str:
    if isinstance(error, InvalidStatus):
        response = error.response
        return f"refused with HTTP {response.status_code} {response.reason_phrase}".rstrip()
    return f"refused the handshake: {error}"


def _stamp(ancillary: list[tuple[int, int, bytes]]) -> float:
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
            seconds, nanoseconds = struct.unpack_from("qq", data)
            return seconds + nanoseconds / 1e9
    return time.time()


def _process_main(fd: int) -> None:
    conn = Connection(fd)
    spec = conn.recv()
    raise_open_files_limit()
    # Behind the server on a shared machine: with the kernel's receive times a client that
    # reads late still reports when its copy arrived, and the server's work goes first.
    with contextlib.suppress(OSError):
        os.nice(LOAD_NICENESS)
    try:
        import uvloop
    except ImportError:
        runner: Callable[..., Any] = asyncio.run
    else:
        runner = uvloop.run
    runner(_serve_clients(conn, spec))


async def _serve_clients(conn: Connection, spec: _Spec) -> None:
    loop = asyncio.get_running_loop()
    started_cpu = time.process_time()
    gate = asyncio.Semaphore(CONNECTS_IN_FLIGHT)
    uris = {path: parse_uri(f"ws://{spec.host}:{spec.port}{path}") for path in set(spec.paths)}

    family, _, _, _, address = (
        await loop.getaddrinfo(spec.host, spec.port, type=socket.SOCK_STREAM)
    )[0]

    retries = 0

    async def connect(path: str, headers: dict[str, str]) -> _Client | str:
        nonlocal retries
        async with gate:
            for attempt in range(CONNECT_ATTEMPTS):
                client = _Client(uris[path], headers)
                try:
                    await asyncio.wait_for(client.open(address, family), spec.timeout)
                except Refused as error:  # the server said no: asking again changes nothing
                    client.close()
                    return f"{path}: {error}"
                except (OSError, TimeoutError, ConnectionError) as error:
                    # Reset or timed out in a crowd of handshakes: a browser tries again too.
                    client.close()
                    if attempt + 1 == CONNECT_ATTEMPTS:
                        return f"{path}: {type(error).__name__} {error}"
                    retries += 1
                    await asyncio.sleep(0.5 * (attempt + 1))
                else:
                    return client
            raise AssertionError("unreachable")

    outcomes = await asyncio.gather(
        *(connect(path, headers) for path, headers in zip(spec.paths, spec.headers, strict=True))
    )
    errors = [o for o in outcomes if isinstance(o, str)]
    clients = [o for o in outcomes if isinstance(o, _Client)]
    conn.send(("connected", errors, time.process_time() - started_cpu, retries))

    def order() -> tuple[Any, ...]:
        try:
            return conn.recv()
        except EOFError:  # the bench went away (say, another process failed to connect)
            return ("gone",)

    kinds = set(spec.kinds)
    window_cpu = time.process_time()
    while True:
        # A blocking read in a thread: the loop's own reader would make the socket
        # non-blocking, and a large reply would then fail half-written.
        command, *args = await loop.run_in_executor(None, order)
        if command == "go":
            for client in clients:
                client.messages.clear()  # only what arrives from now on is measured
            window_cpu = time.process_time()
            conn.send(("going",))
        elif command == "find":
            kind, key = args
            found = [client.find(kind, key, spec.key_fields) for client in clients]
            conn.send([at for at in found if at is not None])
        elif command == "stop":
            cpu = time.process_time() - window_cpu
            closed = sum(client.closed_with is not None for client in clients)
            seen = [[s for s in c.seen(spec.key_fields) if s[0] in kinds] for c in clients]
            conn.send((cpu, seen, closed))
            break
        else:  # gone
            break
    for client in clients:
        client.close()
    await asyncio.sleep(0.1)  # let the close frames go out


if __name__ == "__main__":
    _process_main(int(sys.argv[1]))
