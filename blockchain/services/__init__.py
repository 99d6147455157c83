"""Writes that involve the chain, one module per concern (import from the module itself):

- `operator`: the Redis lock every send from the operator account happens under.
- `deployments`: the contract's deployment on the connected chain, redeployed after a reset.
- `members`: members' chain ids and their registration on the contract.
- `recording`: a commit recorded as mined (the period moves to committed) or stopped on a
  mismatch (with an alarm).
- `commits`: committing settled periods exactly once, oldest first.
- `amendments`: a correction committed beside the original.
- `indexer`: following the chain's blocks and the contract's events.

Exactly once, with at-least-once tasks: before sending a commit we read the chain. A period the
contract already holds with the same root is recorded as committed and nothing is sent (the
retry of a worker killed after sending); a different root raises an alarm and stops that period.
The transaction hash is recorded before waiting for the receipt, and the contract itself
reverts a second commit of a period, which is the last guard against two racing workers.

Every send from the operator account happens under one Redis lock (`operator.operator_lock`):
it keeps nonces from colliding and makes periods land on chain in the order they started.
"""
