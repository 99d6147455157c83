"""A member checks trades without trusting the co-op: the proof API's files checked on a real dev
chain by scripts/verify-trade.mjs and by Foundry's `cast call`, tampered proofs refused, the
month's download of the member's own proofs, and the CSP opened to the public node only."""

from __future__ import annotations

import copy
import datetime as dt
import json
import subprocess
import urllib.request
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from blockchain.chain.devchain import DevChain
from blockchain.middleware import ChainNodeCSPMiddleware
from blockchain.models import ChainDeployment
from blockchain.tasks import commit_period
from blockchain.tests.test_app_support import settled_period
from config.embedded_redis import free_port
from conftest import make_member

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "verify-trade.mjs"
CAST = ROOT / "node_modules" / ".bin" / "cast"
VERIFY_SIGNATURE = "verifyTrade(uint64,bytes,uint256,bytes32[])(bool)"


@pytest.fixture(scope="module")
def ganache():
    chain = DevChain("ganache").start()
    yield chain
    chain.stop()


@pytest.fixture
def on_chain(settings, ganache):
    settings.CHAIN_RPC_URL = ganache.url
    settings.CHAIN_PUBLIC_RPC_URL = ganache.url
    return ganache


@pytest.fixture
def committed_proof(on_chain, resident, other_resident, client, tmp_path) -> dict:
    """The proof of trade 4 of 5 in a committed period, as the resident downloads it."""
    period = settled_period(40, resident, other_resident, trades=5)
    commit_period.apply(args=[period.pk])
    client.force_login(resident.user)
    trade = period.trades.get(sequence=4)
    return client.get(reverse("chain-proof", args=[trade.pk])).json()


def write(tmp_path: Path, proof: dict, name: str = "proof.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(proof))
    return path


def verify_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["node", str(SCRIPT), *args], capture_output=True, text=True, timeout=60, cwd=ROOT
    )


def cast_verify(proof: dict, rpc: str) -> str:
    result = subprocess.run(
        [
            str(CAST),
            "call",
            proof["contract"],
            VERIFY_SIGNATURE,
            str(proof["chain_period_id"]),
            proof["leaf_encoded"],
            str(proof["leaf_index"]),
            "[" + ",".join(proof["proof"]) + "]",
            "--rpc-url",
            rpc,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip()


# --- the proof file --------------------------------------------------------------------------


@pytest.mark.chain
def test_the_proof_names_the_node_the_contract_and_the_leaf_decoded(committed_proof, on_chain):
    deployment = ChainDeployment.objects.get(active=True)
    assert committed_proof["rpc_url"] == on_chain.url
    assert committed_proof["contract"] == deployment.contract_address
    assert committed_proof["chain_id"] == 1337
    fields = committed_proof["leaf_fields"]
    assert fields == {
        "period_id": 2026070840,
        "sequence": 4,
        "buyer": committed_proof["member_hash"],
        "seller": fields["seller"],
        "energy_wh": 1254,
        "price_c_e4": 185_000,
        "value_micro_nzd": 263_340,  # 1.254 kWh x (18.5 + 2 + 0.5) c
    }
    assert fields["seller"].startswith("0x")
    assert fields["seller"] != fields["buyer"]


# --- the standalone script and cast ------------------------------------------------------------


@pytest.mark.chain
def test_the_script_verifies_a_committed_trade_on_the_chain(committed_proof, on_chain, tmp_path):
    result = verify_script(str(write(tmp_path, committed_proof)), "--rpc", on_chain.url)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert f"Node {on_chain.url} (chain id 1337)" in out
    assert "period    2026-07-08 TP40" in out
    assert "energy    1.254 kWh" in out
    assert "price     18.5000 c/kWh" in out
    assert "value     0.263340 NZD" in out
    assert f"buyer     {committed_proof['member_hash']} (you)" in out
    assert committed_proof["contract"] in out
    assert out.strip().endswith("verified on chain")


def _flip_energy_byte(proof: dict) -> None:
    # The energy is the fifth 32-byte word: its last byte is the lowest of the Wh.
    leaf = bytearray.fromhex(proof["leaf_encoded"][2:])
    leaf[5 * 32 - 1] ^= 1
    proof["leaf_encoded"] = "0x" + leaf.hex()
    proof["leaf_fields"] = {}  # a file without its decoded copy: the chain is what refuses it


def _other_period(proof: dict) -> None:
    leaf = bytearray.fromhex(proof["leaf_encoded"][2:])
    leaf[31] ^= 1  # the period id's lowest byte: TP41, never committed
    proof["leaf_encoded"] = "0x" + leaf.hex()
    proof["leaf_fields"] = {}


def _next_index(proof: dict) -> None:
    proof["leaf_index"] += 1


def _changed_sibling(proof: dict) -> None:
    proof["proof"][1] = proof["proof"][1][:-1] + ("0" if proof["proof"][1][-1] != "0" else "1")


def _altered_fields(proof: dict) -> None:
    proof["leaf_fields"]["energy_wh"] += 1000


@pytest.mark.chain
@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (_flip_energy_byte, "proof rejected: the contract holds root"),
        (_next_index, "proof rejected: the contract holds root"),
        (_changed_sibling, "proof rejected: the contract holds root"),
        (_other_period, "root not committed"),
        (_altered_fields, "the file's leaf_fields differ from its encoded leaf (energy_wh)"),
    ],
    ids=["leaf-byte", "index", "sibling", "period", "decoded-fields"],
)
def test_the_script_rejects_a_tampered_proof(committed_proof, on_chain, tmp_path, tamper, reason):
    proof = copy.deepcopy(committed_proof)
    tamper(proof)
    result = verify_script(str(write(tmp_path, proof)), "--rpc", on_chain.url)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"NOT verified: {reason}" in result.stdout
    assert "verified on chain" not in result.stdout.replace("NOT verified", "")


@pytest.mark.chain
def test_the_script_says_when_it_cannot_check(committed_proof, on_chain, tmp_path):
    path = str(write(tmp_path, committed_proof))
    dead_node = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    unreachable = verify_script(path, "--rpc", dead_node)
    assert unreachable.returncode == 1
    assert f"node unreachable: {dead_node} did not answer" in unreachable.stderr

    nowhere = "0x" + "12" * 20  # an address with no code on the chain
    no_contract = verify_script(path, "--rpc", on_chain.url, "--contract", nowhere)
    assert no_contract.returncode == 1
    assert f"NOT verified: no CoopLedger contract at {nowhere}" in no_contract.stdout

    no_node = verify_script(path)
    assert no_node.returncode == 2
    assert f"give --rpc URL: the chain node to ask (the co-op publishes {on_chain.url})" in (
        no_node.stderr
    )
    not_a_proof = verify_script(str(write(tmp_path, {"hello": 1}, "other.json")), "--rpc", "x")
    assert not_a_proof.returncode == 2
    assert 'has no "trade_id": is it a Hapori trade proof?' in not_a_proof.stderr


@pytest.mark.chain
def test_cast_call_on_the_same_proof_returns_true(committed_proof, on_chain):
    assert cast_verify(committed_proof, on_chain.url) == "true"
    tampered = copy.deepcopy(committed_proof)
    _changed_sibling(tampered)
    assert cast_verify(tampered, on_chain.url) == "false"


@pytest.mark.chain
@pytest.mark.parametrize("kind", ["ganache", "anvil"])
def test_dev_chains_answer_a_browsers_cors_preflight(kind):
    """The Verify button calls the node from the site's origin: the node must allow it."""
    chain = DevChain(kind).start()
    try:
        preflight = urllib.request.Request(
            chain.url,
            method="OPTIONS",
            headers={
                "Origin": "http://coop.example.nz",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        with urllib.request.urlopen(preflight, timeout=10) as answer:
            allowed = answer.headers["Access-Control-Allow-Origin"]
            headers = answer.headers["Access-Control-Allow-Headers"].lower()
    finally:
        chain.stop()
    assert allowed in ("*", "http://coop.example.nz")
    assert "content-type" in headers


# --- the month's download ----------------------------------------------------------------------


@pytest.mark.chain
def test_the_month_download_holds_every_proof_of_the_members_own_trades(
    on_chain, resident, other_resident, client, tmp_path
):
    third = make_member("third", 5)
    july = settled_period(41, resident, other_resident, trades=2)
    sold = settled_period(42, other_resident, resident, trades=1)
    not_hers = settled_period(43, other_resident, third, trades=2)
    august = settled_period(44, resident, other_resident, trades=1, day=dt.date(2026, 8, 3))
    for period in (july, sold, not_hers, august):
        commit_period.apply(args=[period.pk])
    # Settled, not committed yet, with a member new to the chain: no leaf to give yet.
    waiting = settled_period(45, make_member("newcomer", 6), resident, trades=1)

    client.force_login(resident.user)
    response = client.get(reverse("chain-month-proofs", args=["2026-07"]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == (
        'attachment; filename="hapori-trade-proofs-2026-07.json"'
    )
    body = json.loads(response.content)
    assert body["month"] == "2026-07"
    mine = [*july.trades.order_by("sequence"), *sold.trades.all(), *waiting.trades.all()]
    assert [t["trade_id"] for t in body["trades"]] == [t.pk for t in mine]
    for entry in body["trades"]:
        single = client.get(reverse("chain-proof", args=[entry["trade_id"]])).json()
        assert entry == single  # each entry is the trade's own proof, whole
    assert body["trades"][-1]["status"]["state"] == "pending"
    assert body["trades"][-1]["leaf_encoded"] == ""

    # The file checks as it is: the committed trades verify, the waiting one is not on chain.
    result = verify_script(str(write(tmp_path, body)), "--rpc", on_chain.url)
    assert result.stdout.count("\nverified on chain") == 3
    assert "NOT verified: trade" in result.stdout
    assert "not on chain yet" in result.stdout
    assert "3 of 4 trades verified on chain" in result.stdout
    assert result.returncode == 1

    # The other party of none of these sees only their own.
    client.force_login(third.user)
    theirs = client.get(reverse("chain-month-proofs", args=["2026-07"])).json()
    assert {t["trade_id"] for t in theirs["trades"]} == set(
        not_hers.trades.values_list("pk", flat=True)
    )
    assert {t["member_hash"] for t in theirs["trades"]} == {theirs["trades"][0]["member_hash"]}


@pytest.mark.parametrize(
    ("month", "why"),
    [
        ("2026-13", "Months look like 2026-07."),
        ("July", "Months look like 2026-07."),
        ("1999-07", "There are no statements for 1999: months from 2000"),
    ],
)
def test_a_bad_month_is_a_400_that_says_what_a_month_looks_like(resident_client, month, why):
    response = resident_client.get(reverse("chain-month-proofs", args=[month]))
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail.startswith(f"{month!r} is not a month: ")
    assert why in detail
    assert "Content-Disposition" not in response


def test_a_month_without_trades_is_an_empty_list(resident_client):
    body = resident_client.get(reverse("chain-month-proofs", args=["2026-03"])).json()
    assert body == {"month": "2026-03", "trades": []}


def test_the_statement_links_the_months_proofs(resident_client):
    page = resident_client.get(reverse("statement-detail", args=["2026-07"])).content.decode()
    assert f'href="{reverse("chain-month-proofs", args=["2026-07"])}" download' in page


# --- the Content-Security-Policy -------------------------------------------------------------


def _connect_src(response) -> str:
    policy = response["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    return directives["connect-src"]


def test_the_policy_allows_the_public_nodes_origin_only(client, settings):
    settings.CHAIN_PUBLIC_RPC_URL = "https://member:secret@RPC.example.nz:8443/v1/API-KEY?x=1"
    assert _connect_src(client.get("/accounts/login/")) == "'self' https://rpc.example.nz:8443"
    settings.CHAIN_PUBLIC_RPC_URL = "http://[::1]:8545"
    assert _connect_src(client.get("/accounts/login/")) == "'self' http://[::1]:8545"
    settings.CHAIN_PUBLIC_RPC_URL = ""
    assert _connect_src(client.get("/accounts/login/")) == "'self'"


def test_a_json_answer_gets_the_apis_policy_and_a_page_the_sites(resident_client, settings):
    settings.CHAIN_PUBLIC_RPC_URL = "https://rpc.example.nz"
    api = resident_client.get("/api/periods/")
    assert api["Content-Type"] == "application/json"
    assert api["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
    docs = resident_client.get("/api/docs/")  # the API's own page: a document, the site's policy
    assert "script-src 'self'" in docs["Content-Security-Policy"]
    assert _connect_src(docs) == "'self' https://rpc.example.nz"


def test_a_public_node_url_that_is_not_http_stops_the_site_starting(settings):
    settings.CHAIN_PUBLIC_RPC_URL = "ws://127.0.0.1:8545"
    with pytest.raises(ImproperlyConfigured, match="is not an http"):
        ChainNodeCSPMiddleware(lambda _request: None)


@pytest.mark.chain
def test_the_month_download_reads_the_same_few_queries_however_many_periods(
    on_chain, resident, other_resident, client
):
    """A month is up to 1,488 periods: each is not read on its own."""
    client.force_login(resident.user)
    url = reverse("chain-month-proofs", args=["2026-07"])
    counts, periods = [], 0
    for numbers in ((1, 2), (3, 4, 5, 6, 7, 8)):
        for n in numbers:
            commit_period.apply(args=[settled_period(n, resident, other_resident).pk])
        periods += len(numbers)
        with CaptureQueriesContext(connection) as queries:
            trades = client.get(url).json()["trades"]
        assert len(trades) == 2 * periods
        counts.append(len(queries))
    assert counts[0] == counts[1] <= 10  # the session and user, then a few reads
