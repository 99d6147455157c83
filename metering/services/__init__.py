"""Writes of metering, one module per concern: `readings` (one reading per ICP and half hour,
the ICP lock, estimates), `bulk` (PostgreSQL COPY for large batches), `eiep_import` (files in)
and `polling` (meters read in batches)."""
