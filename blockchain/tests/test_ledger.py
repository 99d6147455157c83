"""CoopLedger on real dev chains (Ganache and Anvil from npm), with proofs from blockchain.merkle."""

import shutil
import subprocess
from pathlib import Path

import pytest
from eth_hash.auto import keccak

from blockchain import merkle
from blockchain.chain.client import LedgerClient, PeriodTotals
from blockchain.chain.devchain import DEV_KEY, DevChain

ROOT = Path(__file__).resolve().parents[2]
NODE_BIN = ROOT / "node_modules" / ".bin"
pytestmark = [
    pytest.mark.chain,
    pytest.mark.skipif(not NODE_BIN.is_dir(), reason="node_modules is not installed (npm ci)"),
]


@pytest.fixture(scope="module", params=["ganache", "anvil"])
def ledger(request):
    chain = DevChain(request.param).start()
    client = LedgerClient(chain.url, DEV_KEY)
    deployed = client.deploy()
    yield client, deployed.address
    chain.stop()


def leaves(period_id: int, count: int) -> list[bytes]:
    buyer, seller = keccak(b"member-1"), keccak(b"member-2")
    return [
        merkle.encode_leaf(
            merkle.TradeLeaf(period_id, n, buyer, seller, 1000 + n, 185_000, 200_000 + n)
        )
        for n in range(1, count + 1)
    ]


def test_artifacts_match_a_fresh_compile():
    if not shutil.which("node"):
        pytest.skip("node is not installed")
    result = subprocess.run(
        ["node", "scripts/compile_contracts.mjs", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("count", [0, 1, 2, 3, 7, 100])
def test_every_trade_verifies_against_the_committed_root(ledger, count):
    client, address = ledger
    period_id = 2026070800 + count % 48 + 1
    trades = leaves(period_id, count)
    root = "0x" + merkle.merkle_root(trades).hex()
    receipt = client.commit_period(
        address, PeriodTotals(period_id, root, count, 1000 * count, 123 * count)
    )
    assert receipt.status == 1
    assert receipt.gas_used < 60_000
    assert client.get_commit(address, period_id).root == root
    for index, leaf in enumerate(trades):
        proof = merkle.merkle_proof(trades, index)
        assert merkle.verify(leaf, index, proof, merkle.merkle_root(trades))
        assert client.verify_trade(
            address, period_id=period_id, leaf=leaf, index=index, proof=proof
        )
    if count >= 2:
        wrong = merkle.merkle_proof(trades, 0)
        assert not client.verify_trade(
            address, period_id=period_id, leaf=trades[1], index=0, proof=wrong
        )
        forged = trades[0][:-1] + b"\x99"
        assert not client.verify_trade(
            address, period_id=period_id, leaf=forged, index=0, proof=wrong
        )


def test_a_second_commit_reverts_and_an_amendment_never_overwrites(ledger):
    client, address = ledger
    period_id = 2026070901
    first = "0x" + merkle.merkle_root(leaves(period_id, 2)).hex()
    client.commit_period(address, PeriodTotals(period_id, first, 2, 1, 1))
    again = client.commit_period(address, PeriodTotals(period_id, first, 2, 1, 1))
    assert again.status == 0
    corrected = leaves(period_id, 3)
    new_root = "0x" + merkle.merkle_root(corrected).hex()
    assert client.amend_period(address, PeriodTotals(period_id, new_root, 3, 2, 2)).status == 1
    assert client.get_commit(address, period_id).root == first
    assert client.current_root(address, period_id) == new_root
    assert client.verify_trade(
        address,
        period_id=period_id,
        leaf=corrected[2],
        index=2,
        proof=merkle.merkle_proof(corrected, 2),
    )
    events = client.events(address, period_id=period_id)
    assert [e.name for e in events] == ["PeriodCommitted", "PeriodAmended"]
    assert events[0].root == first
    assert events[1].root == new_root


def test_members_and_operator_only(ledger):
    client, address = ledger
    member = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8"
    assert client.register_member(address, member, "0x" + keccak(b"m").hex()).status == 1
    assert client.is_member(address, member)
    stranger = LedgerClient(
        client.url, "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
    )
    receipt = stranger.commit_period(
        address, PeriodTotals(2026071001, "0x" + keccak(b"x").hex(), 1, 1, 1)
    )
    assert receipt.status == 0
    assert client.get_commit(address, 2026071001) is None
