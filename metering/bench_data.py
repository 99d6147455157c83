"""Bench data removed in bulk: the readings of bench ICPs, which no co-op's data shares."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection

from metering.models import Reading, ReadingRevision


def icp_readings_delete(icp_ids: Sequence[int]) -> None:
    """Every reading of these ICPs and its revisions, set-based: the ORM would load a million
    readings to delete them a few hundred at a time."""
    if not icp_ids:
        return
    reading, revision = Reading._meta.db_table, ReadingRevision._meta.db_table
    among = ", ".join(["%s"] * len(icp_ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {revision} WHERE reading_id IN "  # noqa: S608 (names only)
            f"(SELECT id FROM {reading} WHERE icp_id IN ({among}))",
            list(icp_ids),
        )
        cursor.execute(f"DELETE FROM {reading} WHERE icp_id IN ({among})", list(icp_ids))  # noqa: S608
