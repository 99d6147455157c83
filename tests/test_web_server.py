"""The site's web server as production runs it (config.web_server: two uvicorn processes on one
port) with real clients from config.ws_load and the real Redis channel layer."""

from __future__ import annotations

import http.client
import os
import signal
import time

import psutil
import pytest
import requests
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from config.web_server import (
    DEFAULT_SERVER,
    WEBSOCKET_MAX_MESSAGE_BYTES,
    server_processes,
    start_web,
    stop,
)
from config.ws_load import LoadClients


def _ws(site) -> str:
    return site.url.replace("http://", "ws://")


def _read_until_closed(ws) -> None:
    for _ in range(5):
        ws.recv(timeout=5)


def _children(site) -> list[psutil.Process]:
    return psutil.Process(site.process.pid).children()


def test_a_push_reaches_every_client_on_every_web_process_exactly_once(demo_site):
    from trading.live import broadcast

    with LoadClients(_ws(demo_site), clients=40, processes=2, kinds=["bench"]) as load:
        # The kernel spreads the sockets over both processes (SO_REUSEPORT).
        per_process = [len(child.net_connections(kind="tcp")) for child in _children(demo_site)]
        assert len(per_process) == 2
        assert all(count > 0 for count in per_process), per_process
        for n in range(3):
            broadcast.to_display("bench", {"n": n})
        got = load.wait_for("bench", key=2, timeout=10)
        assert len(got) == 40
    result = load.results()
    assert [m.key for m in result.messages] == [0, 1, 2]
    assert [m.clients_reached() for m in result.messages] == [40, 40, 40]
    assert result.duplicates() == 0
    assert result.missing() == 0
    assert all(0 <= ms < 5000 for ms in result.latencies_ms())
    assert load.cpu_seconds >= 0


def test_a_residents_power_reaches_only_their_own_live_pages(demo_site):
    from trading.live import broadcast

    aroha = int(
        demo_site.manage(
            "shell",
            "-c",
            "from coop.models import Member; print(Member.objects.get(user__username='aroha').pk)",
        ).split()[-1]
    )
    cookies = [demo_site.login_cookie("aroha"), demo_site.login_cookie("ben")]
    with LoadClients(
        _ws(demo_site),
        clients=8,
        processes=2,
        kinds=["power", "bench"],
        live_clients=8,
        cookies=cookies,  # clients 0, 2, 4, 6 are aroha's pages; 1, 3, 5, 7 ben's
    ) as load:
        broadcast.push(broadcast.member_group(aroha), "power", {"n": 1})
        broadcast.to_display("bench", {"n": 2})  # after it: the power push has been delivered
        assert len(load.wait_for("bench", key=2, timeout=10)) == 8
    # Each page's own "power" on connect (key None) may land after the load starts: only the
    # push is counted, and every copy of it.
    pushed = [m for m in load.results().messages if m.kind == "power" and m.key == 1]
    assert [sorted(client for client, _ in m.arrivals) for m in pushed] == [[0, 2, 4, 6]]


@pytest.mark.parametrize(
    ("path", "origin"),
    [
        ("/ws/live/", ""),  # needs a login
        ("/ws/display/", "https://evil.example"),  # a page of another site
        ("/ws/live/", "https://evil.example"),
    ],
)
def test_a_client_that_is_refused_fails_the_load_with_the_reason(demo_site, path, origin):
    load = LoadClients(_ws(demo_site), clients=3, path=path, origin=origin, connect_timeout=10)
    with pytest.raises(RuntimeError, match=r"3 of 3 .* refused with HTTP 403"):
        load.__enter__()


@pytest.mark.parametrize(
    ("size", "code"),
    [
        (WEBSOCKET_MAX_MESSAGE_BYTES + 1, 1009),  # over the server's cap: the app never sees it
        (WEBSOCKET_MAX_MESSAGE_BYTES, 4413),  # at the cap it reaches the app, over its 4 KiB
    ],
)
def test_the_server_caps_an_incoming_message_at_16_kib(demo_site, size, code):
    assert DEFAULT_SERVER == "uvicorn"
    with connect(_ws(demo_site) + "/ws/display/", origin=demo_site.url, open_timeout=10) as ws:
        ws.recv(timeout=10)  # the snapshot
        ws.send("[" + "1" * (size - 2) + "]")
        with pytest.raises(ConnectionClosed) as closed:
            _read_until_closed(ws)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == code
    assert demo_site.processes() == demo_site.pids  # no process died of it


def test_a_web_process_that_dies_is_replaced_and_stop_ends_them_all(demo_site):
    process, port = start_web(demo_site.env, workers=2)
    try:
        parent = psutil.Process(process.pid)
        first = {child.pid for child in parent.children()}
        assert len(first) == 2
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            now = {child.pid for child in parent.children()}
            if len(now) == 2 and victim not in now:
                break
            time.sleep(0.2)
        assert len(now) == 2
        assert victim not in now
        # Whichever process the kernel hands the connections to, the site answers.
        for _ in range(6):
            page = requests.get(f"http://127.0.0.1:{port}/accounts/login/", timeout=30)
            assert page.status_code == 200
        everyone = server_processes(process)
    finally:
        stop(process)
    assert process.returncode == 0
    assert not [pid for pid in everyone if psutil.pid_exists(pid)]


@pytest.mark.parametrize("server", ["uvicorn", "daphne"])
@pytest.mark.parametrize("access_log", [False, True])
def test_requests_are_logged_only_when_asked(demo_site, tmp_path, monkeypatch, server, access_log):
    """Production writes no access log (the TLS proxy keeps one); make run asks for one."""
    log = tmp_path / "web.log"
    monkeypatch.setenv("HAPORI_WEB_LOG", str(log))
    process, port = start_web(demo_site.env, workers=1, server=server, access_log=access_log)
    try:
        page = requests.get(f"http://127.0.0.1:{port}/accounts/login/?probe=7", timeout=30)
        assert page.status_code == 200
    finally:
        stop(process)
    assert ("/accounts/login/?probe=7" in log.read_text()) is access_log


def test_an_idle_keep_alive_connection_outlasts_uvicorns_five_seconds(demo_site):
    """The server closes an idle connection later than clients and proxies do: when it closed
    them after 5 s, a request sent as it closed failed as "connection closed"."""
    port = int(demo_site.url.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/accounts/login/")
        assert connection.getresponse().read()
        assert connection.sock is not None
        kept = connection.sock
        time.sleep(6.5)
        connection.request("GET", "/accounts/login/")  # http.client does not reconnect
        answer = connection.getresponse()
        answer.read()
        assert answer.status == 200
        assert connection.sock is kept
    finally:
        connection.close()


def test_daphne_can_still_be_the_server(demo_site):
    """`--server daphne` (bench_broadcast's comparison row): the same sockets and pushes."""
    from trading.live import broadcast

    process, port = start_web(demo_site.env, workers=2, server="daphne")
    try:
        with LoadClients(f"ws://127.0.0.1:{port}", clients=6, kinds=["bench"]) as load:
            broadcast.to_display("bench", {"n": 7})
            assert len(load.wait_for("bench", key=7, timeout=10)) == 6
    finally:
        stop(process)
    assert load.results().duplicates() == 0
