"""`manage.py fetch_emi_prices` against recorded EMI monthly files served from 127.0.0.1 (no
internet): the months of the shared selected-nodes file, rebuilt as EMI's monthly files."""

from __future__ import annotations

import functools
import json
import socket
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from lab.management.commands import fetch_emi_prices

SELECTED = "prices/emi_final_energy_prices_2026-05-03_to_2026-08-06_selected_nodes.csv"
HEADER = "TradingDate,TradingPeriod,PointOfConnection,DollarsPerMegawattHour"


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # the test output is no place for an access log
        pass


@pytest.fixture
def served(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def recorded(shared_data, served):
    """EMI's monthly files for May-July 2026 (13 nodes of the selected-nodes file)."""
    root, url = served
    lines = (shared_data / SELECTED).read_text(encoding="utf-8").splitlines()
    assert lines[0] == HEADER
    months = {}
    for month in ("2026-05", "2026-06", "2026-07"):
        rows = [line for line in lines[1:] if line.startswith(month)]
        (root / f"{month.replace('-', '')}_FinalEnergyPrices.csv").write_text(
            "\n".join([HEADER, *rows]) + "\n", encoding="utf-8"
        )
        months[month] = rows
    return root, url, months


def fetch(*args: str) -> list[str]:
    out = StringIO()
    call_command("fetch_emi_prices", *args, stdout=out)
    return out.getvalue().splitlines()


def fetch_months(
    first: str, last: str, out, url: str, *more: str, node: str = "PEN0331"
) -> list[str]:
    return fetch(
        "--from", first, "--to", last, "--node", node, "--out", str(out), "--base-url", url, *more
    )


def test_three_months_are_fetched_for_one_node(recorded, tmp_path):
    _, url, months = recorded
    out = tmp_path / "prices"
    lines = fetch_months("2026-05", "2026-07", str(out), url)
    written = sorted(out.iterdir())
    assert [f.name for f in written] == [
        "PEN0331_202605_FinalEnergyPrices.csv",
        "PEN0331_202606_FinalEnergyPrices.csv",
        "PEN0331_202607_FinalEnergyPrices.csv",
    ]
    expected = {m: [r for r in rows if ",PEN0331," in r] for m, rows in months.items()}
    for file, (_, rows) in zip(written, sorted(expected.items()), strict=True):
        text = file.read_text(encoding="utf-8").splitlines()
        assert text == [HEADER, *rows]
    summary = json.loads(lines[-1])
    assert summary == {
        "node": "PEN0331",
        "months": ["2026-05", "2026-06", "2026-07"],
        "files": [str(f) for f in written],
        "rows": sum(len(r) for r in expected.values()),
        "skipped": [],
    }
    assert lines[0] == f"2026-05: {len(expected['2026-05'])} prices for PEN0331 -> {written[0]}"

    again = fetch_months("2026-05", "2026-07", str(out), url)
    assert json.loads(again[-1])["skipped"] == ["2026-05", "2026-06", "2026-07"]
    assert json.loads(again[-1])["files"] == []
    assert "is already here (--force fetches it again)" in again[0]

    forced = fetch_months("2026-06", "2026-06", str(out), url, "--force")
    assert json.loads(forced[-1])["files"] == [str(written[1])]


def test_the_base_url_setting_is_used_without_the_option(recorded, tmp_path, settings):
    _, url, _ = recorded
    settings.EMI_DATASETS_URL = url.rstrip("/")
    lines = fetch(
        "--from", "2026-07", "--to", "2026-07", "--node", "BEN2201", "--out", str(tmp_path / "p")
    )
    assert json.loads(lines[-1])["files"] == [
        str(tmp_path / "p" / "BEN2201_202607_FinalEnergyPrices.csv")
    ]


def test_a_month_emi_has_not_published_says_so_and_writes_nothing(recorded, tmp_path):
    _, url, _ = recorded
    out = tmp_path / "prices"
    with pytest.raises(CommandError) as caught:
        fetch_months("2026-07", "2026-08", str(out), url)
    assert (
        "EMI has no monthly file for 2026-08 yet (it publishes a month after it ends); "
        "use daily files or an earlier --to" in str(caught.value)
    )
    assert [f.name for f in out.iterdir()] == ["PEN0331_202607_FinalEnergyPrices.csv"]


def test_a_corrupt_file_is_refused_and_nothing_written(served, tmp_path):
    root, url = served
    rows = [f"2026-09-01,{n},PEN0331,{80 + n}" for n in range(1, 49)]
    rows[9] = "2026-09-01,10,PEN0331,NaN-ish"  # line 11
    (root / "202609_FinalEnergyPrices.csv").write_text("\n".join([HEADER, *rows]) + "\n")
    out = tmp_path / "prices"
    with pytest.raises(CommandError) as caught:
        fetch_months("2026-09", "2026-09", str(out), url)
    assert "2026-09: refused, nothing written:" in str(caught.value)
    assert "202609_FinalEnergyPrices.csv line 11: price 'NaN-ish' is not a number" in str(
        caught.value
    )
    assert list(out.iterdir()) == []


def test_a_file_of_another_month_or_without_the_node_is_refused(served, tmp_path):
    root, url = served
    (root / "202609_FinalEnergyPrices.csv").write_text(
        "\n".join([HEADER, *(f"2026-08-01,{n},PEN0331,80" for n in range(1, 49))]) + "\n"
    )
    (root / "202610_FinalEnergyPrices.csv").write_text(
        "\n".join([HEADER, *(f"2026-10-01,{n},BEN2201,80" for n in range(1, 49))]) + "\n"
    )
    out = tmp_path / "prices"
    with pytest.raises(
        CommandError, match=r"has prices outside 2026-09 \(from 2026-08-01\): not that month's file"
    ):
        fetch_months("2026-09", "2026-09", str(out), url)
    with pytest.raises(
        CommandError,
        match="has prices for nodes BEN2201, not PEN0331: nothing written; check --node",
    ):
        fetch_months("2026-10", "2026-10", str(out), url)
    assert list(out.iterdir()) == []


def test_an_oversized_download_is_refused(recorded, tmp_path, monkeypatch):
    _, url, _ = recorded
    monkeypatch.setattr(fetch_emi_prices, "MAX_BYTES", 2**18)
    with pytest.raises(CommandError, match=r"is over 0\.25 MB: not a price file"):
        fetch_months("2026-05", "2026-05", str(tmp_path / "p"), url)
    assert list((tmp_path / "p").iterdir()) == []


def test_a_network_failure_names_the_url_and_suggests_base_url(tmp_path):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(CommandError) as caught:
        fetch_months("2026-05", "2026-05", str(tmp_path / "p"), f"http://127.0.0.1:{port}/emi")
    message = str(caught.value)
    assert f"could not fetch http://127.0.0.1:{port}/emi/202605_FinalEnergyPrices.csv" in message
    assert "--base-url" in message


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ["--from", "2026-13", "--to", "2026-12"],
            "--from '2026-13' is not a month: write YYYY-MM",
        ),
        (["--from", "202605", "--to", "2026-07"], "--from '202605' is not a month"),
        (["--from", "2026-05", "--to", "July"], "--to 'July' is not a month"),
        (["--from", "2026-07", "--to", "2026-05"], "--from 2026-07 is after --to 2026-05"),
    ],
)
def test_bad_months_are_refused(args, says, tmp_path):
    with pytest.raises(CommandError, match=says):
        fetch(*args, "--node", "PEN0331", "--out", str(tmp_path / "p"))


@pytest.mark.parametrize("node", ["pen0331", "PEN331", "PEN03311", "Penrose"])
def test_bad_node_codes_are_refused(node, tmp_path):
    with pytest.raises(CommandError, match="is not a node code: 3 capital letters and 4 digits"):
        fetch("--from", "2026-05", "--to", "2026-05", "--node", node, "--out", str(tmp_path / "p"))
