"""Hostile payloads against the real web server: deep nesting and oversized messages are
refused, and the server goes on serving pages (issue 10, item 1)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import requests
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from config.payloads import PayloadRefused, PayloadTooLarge, json_depth, json_loads_bounded

NESTED = "[" * 100_000 + "]" * 100_000  # 200 KB


def _still_serving(site) -> None:
    assert site.process.poll() is None, f"the web server exited with {site.process.returncode}"
    # The web process restarts a child that dies: none may have (a crash would hide here).
    assert site.processes() == site.pids, "a web process died and was replaced"
    assert requests.get(f"{site.url}/accounts/login/", timeout=10).status_code == 200


def _ws_url(site, path: str) -> str:
    return site.url.replace("http://", "ws://") + path


def test_recursion_limit_is_safe_in_every_process_after_web3():
    # web3 -> py_ecc raises the limit to 100,000 on import; at that limit this decode
    # overflows the C stack (the interpreter segfaults) instead of raising RecursionError.
    script = (
        "import config, json, sys, web3\n"
        "assert sys.getrecursionlimit() <= 1000, sys.getrecursionlimit()\n"
        "try:\n    json.loads('[' * 100_000 + ']' * 100_000)\n"
        "except RecursionError:\n    print('refused')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, (done.returncode, done.stderr[-500:])
    assert done.stdout.strip() == "refused"


@pytest.mark.parametrize("path", ["/ws/display/", "/ws/live/"])
def test_a_nested_websocket_message_is_refused_and_the_server_lives(demo_site, path):
    headers = {"Cookie": demo_site.login_cookie()} if path == "/ws/live/" else {}
    with (
        connect(
            _ws_url(demo_site, path),
            origin=demo_site.url,
            additional_headers=headers,
            open_timeout=10,
        ) as ws,
        pytest.raises(ConnectionClosed) as closed,
    ):
        _send_and_read_until_closed(ws, NESTED)
    # The server's 16 KiB message cap drops the connection (1009, or daphne: no close frame);
    # under it the app would close with 4413, over its own size cap.
    assert closed.value.rcvd is None or closed.value.rcvd.code in (1009, 4413)
    _still_serving(demo_site)


def _send_and_read_until_closed(ws, message: str) -> None:
    ws.send(message)
    for _ in range(5):
        ws.recv(timeout=5)


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("[" * 1_000 + "]" * 1_000, 4400),  # under both size caps, over the app's depth cap
        ("[" + "1," * 4_000 + "1]", 4413),  # under the server's 16 KiB cap, over the app's cap
        ("{not json", 4400),
    ],
)
def test_a_message_the_app_refuses_closes_the_socket_with_a_code(demo_site, message, code):
    with connect(_ws_url(demo_site, "/ws/display/"), origin=demo_site.url, open_timeout=10) as ws:
        ws.recv(timeout=10)  # the snapshot
        with pytest.raises(ConnectionClosed) as closed:
            _send_and_read_until_closed(ws, message)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == code
    _still_serving(demo_site)


@pytest.fixture(scope="module")
def api_token(demo_site) -> str:
    out = demo_site.manage("drf_create_token", "aroha")
    return out.split()[2]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (NESTED, "at most 65,536"),
        ("[" * 5_000 + "]" * 5_000, "nests 5000 levels deep"),
        ('{"energy_kwh": NaN}', "not a JSON number"),
    ],
)
def test_a_hostile_api_body_is_a_400_and_the_server_lives(demo_site, api_token, body, says):
    response = requests.post(
        f"{demo_site.url}/api/orders/",
        data=body,
        headers={"Authorization": f"Token {api_token}", "Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 400, response.text[:300]
    assert says in response.json()["detail"]
    _still_serving(demo_site)


def test_depth_ignores_brackets_inside_strings():
    assert json_depth('{"a": "[[[[{{{{", "b": [1, [2]]}') == 3
    assert json_depth(r'["\"[[[", [[]]]') == 3


def test_bounded_loads_refuses_each_kind_with_a_reason():
    with pytest.raises(PayloadTooLarge, match="at most 10 are accepted"):
        json_loads_bounded("[" + "1," * 10 + "1]", max_bytes=10)
    with pytest.raises(PayloadRefused, match="nests 4 levels"):
        json_loads_bounded("[[[[]]]]", max_bytes=100, max_depth=3)
    with pytest.raises(PayloadRefused, match="not valid JSON"):
        json_loads_bounded("{", max_bytes=100)
    with pytest.raises(PayloadRefused, match="not UTF-8"):
        json_loads_bounded(b"\xff\xfe", max_bytes=100)
    assert json_loads_bounded('{"a": [1, 2]}', max_bytes=100) == {"a": [1, 2]}


def test_a_body_over_the_limit_is_a_413_that_django_never_reads(demo_site):
    """The ASGI guard answers 413 without handing the body to Django (the server may have read
    it already: daphne reads a whole body first). A proxy's body limit stops it earlier still."""
    big_file = b"x" * (6 * 1024 * 1024 + 1)
    response = requests.post(
        f"{demo_site.url}/energy/upload/", files={"file": ("big.csv", big_file)}, timeout=60
    )
    assert response.status_code == 413, response.text[:300]
    assert "nothing was read" in response.json()["detail"]
    _still_serving(demo_site)


def test_a_chunked_body_over_the_limit_is_a_413_too(demo_site):
    """No Content-Length to check: the guard reads at most the limit, then answers 413."""

    def chunks():
        piece = b"x" * (1024 * 1024)
        for _ in range(7):
            yield piece

    response = requests.post(
        f"{demo_site.url}/api/orders/",
        data=chunks(),
        headers={"Content-Type": "application/json"},
        timeout=60,
    )
    assert response.status_code == 413
    assert "nothing was read" in response.json()["detail"]
    _still_serving(demo_site)


def test_a_small_chunked_body_still_reaches_the_app(demo_site, api_token):
    response = requests.post(
        f"{demo_site.url}/api/orders/",
        data=iter([b'{"side": "buy"', b"}"]),
        headers={"Authorization": f"Token {api_token}", "Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 400  # read whole and validated: the other fields are missing
    assert "period" in response.json()
