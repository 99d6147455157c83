"""Talking to an Ethereum node: the CoopLedger client and the dev chains (Ganache, Anvil)."""
