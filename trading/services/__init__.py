"""Writes of the market, one module per part of a trading period's life."""
