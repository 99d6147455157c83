"""Reads of the chain app, one module per kind (import from the module itself):

- `status`: what the database records: commit status per period and trade, waiting commits,
  gas spent, the admin overview.
- `ledger`: what a period commits: its trades' leaves, Merkle root and totals, a trade's proof.
- `onchain`: reads that ask the node (view calls, never a transaction): is the contract there,
  where did a commit land, the audit, a trade's verification.

Nothing here writes, not even a member's chain id or an alarm: the services do that.
"""
