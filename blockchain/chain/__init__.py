"""Talking to an Ethereum node: the CoopLedger client, the co-op's configured node (`node`) and
the dev chains (Ganache, Anvil)."""
