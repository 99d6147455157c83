"""A small web3.py client for CoopLedger, signing locally with the operator's key.

Transactions are signed here and sent raw, so any JSON-RPC node works (Ganache, Anvil, a
hosted node). Hashes and addresses come back as 0x-prefixed lower-case hex strings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from eth_account import Account
from eth_account.types import TransactionDictType
from eth_typing import HexStr
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractConstructor, ContractFunction
from web3.exceptions import TransactionNotFound
from web3.types import Nonce, TxParams, TxReceipt

ARTIFACT = Path(__file__).resolve().parent.parent / "contracts" / "build" / "CoopLedger.json"
COMMIT_GAS = 120_000  # a commit uses under 60,000; a fixed limit avoids estimating a revert
EVENT_NAMES = ("MemberRegistered", "PeriodCommitted", "PeriodAmended")


def _hex(value: bytes | int) -> str:
    return Web3.to_hex(value).lower()


def _bytes32(value: str | bytes) -> bytes:
    return bytes.fromhex(value[2:]) if isinstance(value, str) else value


@dataclass(frozen=True)
class PeriodTotals:
    """What the contract records for one period: the Merkle root of its trades and their totals
    (the same five values in every commit, amendment and stored row)."""

    period_id: int
    root: str
    trade_count: int
    total_wh: int
    total_value_micro_nzd: int

    # The columns PeriodCommit and Amendment store them in.
    COLUMNS = ("merkle_root", "trade_count", "total_wh", "total_value_micro_nzd")

    def columns(self) -> dict[str, str | int]:
        return {
            "merkle_root": self.root,
            "trade_count": self.trade_count,
            "total_wh": self.total_wh,
            "total_value_micro_nzd": self.total_value_micro_nzd,
        }


@dataclass(frozen=True)
class Receipt:
    tx_hash: str
    block_number: int
    gas_used: int
    status: int


@dataclass(frozen=True)
class Deployed:
    address: str
    tx_hash: str
    block_number: int


@dataclass(frozen=True)
class Signed:
    tx_hash: str
    raw: bytes


@dataclass(frozen=True)
class Commit:
    root: str


@dataclass(frozen=True)
class Event:
    name: str
    period_id: int | None
    root: str
    tx_hash: str
    block_number: int
    log_index: int
    args_json: dict


def _receipt(r: TxReceipt) -> Receipt:
    return Receipt(_hex(r["transactionHash"]), r["blockNumber"], r["gasUsed"], r["status"])


def artifact() -> dict:
    return json.loads(ARTIFACT.read_text())


class LedgerClient:
    def __init__(self, url: str, private_key: str, *, timeout: float = 10) -> None:
        self.url = url
        self.w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": timeout}))
        self.account = Account.from_key(private_key)
        self.operator_address = self.account.address
        self._artifact = artifact()

    # --- the node -------------------------------------------------------------------------
    def genesis_hash(self) -> str:
        return _hex(self.w3.eth.get_block(0)["hash"])

    def chain_id(self) -> int:
        return self.w3.eth.chain_id

    def block_number(self) -> int:
        return self.w3.eth.block_number

    def client_version(self) -> str:
        return self.w3.client_version

    def nonce(self) -> Nonce:
        return self.w3.eth.get_transaction_count(self.operator_address, "pending")

    def contract(self, address: str) -> Contract:
        return self.w3.eth.contract(
            address=Web3.to_checksum_address(address), abi=self._artifact["abi"]
        )

    # --- sending --------------------------------------------------------------------------
    def _sign(self, tx: TxParams) -> Signed:
        tx.setdefault("from", self.operator_address)
        tx.setdefault("nonce", self.nonce())
        tx.setdefault("chainId", self.chain_id())
        # The same dict at run time: web3 types it TxParams, eth_account a plain dict of values.
        signed = self.account.sign_transaction(cast(TransactionDictType, tx))
        return Signed(_hex(signed.hash), bytes(signed.raw_transaction))

    def send_signed(self, signed: Signed) -> str:
        return _hex(self.w3.eth.send_raw_transaction(signed.raw))

    def receipt(self, tx_hash: str) -> Receipt | None:
        try:
            r = self.w3.eth.get_transaction_receipt(HexStr(tx_hash))
        except TransactionNotFound:
            return None
        return _receipt(r)

    def transaction_known(self, tx_hash: str) -> bool:
        try:
            self.w3.eth.get_transaction(HexStr(tx_hash))
        except TransactionNotFound:
            return False
        return True

    def wait_for_receipt(self, tx_hash: str, timeout: float = 60) -> Receipt:
        r = self.w3.eth.wait_for_transaction_receipt(
            HexStr(tx_hash), timeout=timeout, poll_latency=0.1
        )
        return _receipt(r)

    def _transact(
        self, call: ContractFunction | ContractConstructor, gas: int | None = None
    ) -> Receipt:
        params: TxParams = {"from": self.operator_address, "nonce": self.nonce()}
        if gas:
            params["gas"] = gas
        tx = call.build_transaction(params)
        signed = self._sign(tx)
        self.send_signed(signed)
        return self.wait_for_receipt(signed.tx_hash)

    def deploy(self) -> Deployed:
        factory = self.w3.eth.contract(
            abi=self._artifact["abi"], bytecode=self._artifact["bytecode"]
        )
        receipt = self._transact(factory.constructor())
        if receipt.status != 1:
            # A reverted creation (out of gas, say) leaves no code: never record it as deployed.
            raise RuntimeError(f"Deploy transaction {receipt.tx_hash} reverted.")
        address = self.w3.eth.get_transaction_receipt(HexStr(receipt.tx_hash))["contractAddress"]
        if address is None:  # only a contract creation's receipt has one, and this is one
            raise RuntimeError(f"Deploy transaction {receipt.tx_hash} created no contract.")
        return Deployed(address.lower(), receipt.tx_hash, receipt.block_number)

    # --- the ledger -----------------------------------------------------------------------
    def register_member(self, contract: str, address: str, member_hash: str) -> Receipt:
        call = self.contract(contract).functions.registerMember(
            Web3.to_checksum_address(address), _bytes32(member_hash)
        )
        return self._transact(call)

    def is_member(self, contract: str, address: str) -> bool:
        return self.contract(contract).functions.isMember(Web3.to_checksum_address(address)).call()

    def _period_call(self, name: str, contract: str, totals: PeriodTotals) -> ContractFunction:
        function: ContractFunction = getattr(self.contract(contract).functions, name)(
            totals.period_id,
            _bytes32(totals.root),
            totals.trade_count,
            totals.total_wh,
            totals.total_value_micro_nzd,
        )
        return function

    def sign_commit(self, contract: str, totals: PeriodTotals) -> Signed:
        """A signed commit, not yet sent: its hash can be recorded before it is broadcast."""
        call = self._period_call("commitPeriod", contract, totals)
        tx = call.build_transaction(
            {"from": self.operator_address, "nonce": self.nonce(), "gas": COMMIT_GAS}
        )
        return self._sign(tx)

    def commit_period(self, contract: str, totals: PeriodTotals) -> Receipt:
        signed = self.sign_commit(contract, totals)
        self.send_signed(signed)
        return self.wait_for_receipt(signed.tx_hash)

    def amend_period(self, contract: str, totals: PeriodTotals) -> Receipt:
        return self._transact(
            self._period_call("amendPeriod", contract, totals), gas=COMMIT_GAS * 2
        )

    def get_commit(self, contract: str, period_id: int) -> Commit | None:
        root = self.contract(contract).functions.committedRoot(period_id).call()
        return None if root == bytes(32) else Commit(_hex(root))

    def current_root(self, contract: str, period_id: int) -> str | None:
        root = self.contract(contract).functions.currentRoot(period_id).call()
        return None if root == bytes(32) else _hex(root)

    def verify_trade(
        self, contract: str, *, period_id: int, leaf: bytes, index: int, proof: list[bytes]
    ) -> bool:
        return self.contract(contract).functions.verifyTrade(period_id, leaf, index, proof).call()

    def events(
        self,
        contract: str,
        *,
        from_block: int = 0,
        to_block: int | str = "latest",
        names: tuple[str, ...] = EVENT_NAMES,
        period_id: int | None = None,
    ) -> list[Event]:
        ledger = self.contract(contract)
        found: list[Event] = []
        for name in names:
            argument_filters = (
                {"periodId": period_id}
                if period_id is not None and name != "MemberRegistered"
                else None
            )
            logs = getattr(ledger.events, name).get_logs(
                from_block=from_block, to_block=to_block, argument_filters=argument_filters
            )
            for log in logs:
                args = dict(log["args"])
                found.append(
                    Event(
                        name=name,
                        period_id=args.get("periodId"),
                        root=_hex(args["root"]) if "root" in args else "",
                        tx_hash=_hex(log["transactionHash"]),
                        block_number=log["blockNumber"],
                        log_index=log["logIndex"],
                        args_json={
                            k: (_hex(bytes(v)) if isinstance(v, bytes | bytearray) else v)
                            for k, v in args.items()
                        },
                    )
                )
        return sorted(found, key=lambda e: (e.block_number, e.log_index))
