"""Meter adapters: each reads one kind of device and returns half-hour interval energy."""
