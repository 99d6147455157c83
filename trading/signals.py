"""Signals other apps listen to (the chain commits settled periods), sent after the commit."""

from django.dispatch import Signal

# Sent with period_id once a period's settlement is committed to the database.
period_settled = Signal()
