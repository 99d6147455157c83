"""Merkle commitments of a trading period's trades, hashed exactly as CoopLedger.sol verifies.

Pure (eth-abi and eth-hash only; no Django, no web3).

Leaf encoding (one per trade, in trade sequence order):
    abi.encode(uint64 period_id, uint32 sequence, bytes32 buyer, bytes32 seller,
               uint64 energy_wh, uint64 price_c_e4, uint128 value_micro_nzd)
  where buyer and seller are the members' chain hashes (they name no one), energy in Wh, the
  energy price in 1e-4 c/kWh and value what the buyer paid in micro-NZD.
Leaf hash: keccak256(keccak256(encoding)) - hashed twice so no inner node can pass for a leaf.
Tree: each level padded to a power of two with zero hashes; parent = keccak256(left || right)
by position. A proof lists the siblings from the leaf up; the leaf's index gives the sides.
A period with no trades commits EMPTY_ROOT.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_abi import encode
from eth_hash.auto import keccak

ZERO = bytes(32)
EMPTY_ROOT = keccak(b"hapori: a trading period with no trades")
LEAF_TYPES = ["uint64", "uint32", "bytes32", "bytes32", "uint64", "uint64", "uint128"]


@dataclass(frozen=True)
class TradeLeaf:
    period_id: int
    sequence: int
    buyer: bytes
    seller: bytes
    energy_wh: int
    price_c_e4: int
    value_micro_nzd: int


def encode_leaf(leaf: TradeLeaf) -> bytes:
    return encode(
        LEAF_TYPES,
        [
            leaf.period_id,
            leaf.sequence,
            leaf.buyer,
            leaf.seller,
            leaf.energy_wh,
            leaf.price_c_e4,
            leaf.value_micro_nzd,
        ],
    )


def leaf_hash(encoded: bytes) -> bytes:
    return keccak(keccak(encoded))


def _levels(leaves: Sequence[bytes]) -> list[list[bytes]]:
    level = [leaf_hash(leaf) for leaf in leaves]
    width = 1
    while width < len(level):
        width *= 2
    level += [ZERO] * (width - len(level))
    levels = [level]
    while len(level) > 1:
        level = [keccak(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
        levels.append(level)
    return levels


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """Root over encoded leaves (EMPTY_ROOT for none)."""
    if not leaves:
        return EMPTY_ROOT
    return _levels(leaves)[-1][0]


def merkle_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    if not 0 <= index < len(leaves):
        raise IndexError(f"no leaf {index} among {len(leaves)}")
    proof = []
    for level in _levels(leaves)[:-1]:
        proof.append(level[index ^ 1])
        index //= 2
    return proof


def verify(encoded_leaf: bytes, index: int, proof: Sequence[bytes], root: bytes) -> bool:
    node = leaf_hash(encoded_leaf)
    for sibling in proof:
        node = keccak(node + sibling) if index % 2 == 0 else keccak(sibling + node)
        index //= 2
    return index == 0 and node == root
