"""Many rows of one model written in one go, without a model instance per row.

A period of a 5,000-member co-op clears into about 10,000 trades and settles into about 43,000
settlement lines; building each as a Django model (with its init signals and per-field save
preparation) costs more than the database takes to store it. On PostgreSQL the rows go over in
one COPY; elsewhere (SQLite for `make run`) through bulk_create. Either way they are written
inside the caller's transaction, and the fields a row leaves out take the model's defaults
(`auto_now` and `auto_now_add` the time of the call), as a save would give them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from typing import TypeVar

from django.db import connection, models
from django.db.models import ExpressionWrapper, F, QuerySet, Value
from django.db.models.functions import Cast, Round
from django.utils import timezone

BATCH = 2000  # rows per INSERT off PostgreSQL (SQLite caps the variables in one statement)
_M = TypeVar("_M", bound=models.Model)


def rows_insert(model: type[models.Model], columns: Sequence[str], rows: Iterable[tuple]) -> int:
    """Insert `rows`, each a tuple of values for `columns` (field attnames: `period_id`, not
    `period`). Returns the number of rows written."""
    meta = model._meta
    known = {f.attname for f in meta.concrete_fields}
    if unknown := [c for c in columns if c not in known]:
        raise ValueError(f"{meta.label} has no columns {unknown}")
    now = timezone.now()
    rest = [f for f in meta.concrete_fields if f.attname not in columns and not f.primary_key]
    defaults = tuple(
        now
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
        else f.get_default()
        for f in rest
    )
    names = [*columns, *(f.attname for f in rest)]
    if connection.vendor == "postgresql":
        column_of = {f.attname: f.column for f in meta.concrete_fields if f.column}
        return _copy(meta.db_table, [column_of[n] for n in names], rows, defaults)
    written = 0
    batch: list[models.Model] = []
    for row in rows:
        batch.append(model(**dict(zip(names, (*row, *defaults), strict=True))))
        if len(batch) == BATCH:
            written += len(model._default_manager.bulk_create(batch))
            batch = []
    if batch:
        written += len(model._default_manager.bulk_create(batch))
    return written


def from_units(model: type[models.Model], column: str) -> Callable[[Iterable[int]], list]:
    """How rows_insert takes the values of a DecimalField given as whole numbers of its last
    decimal place (Wh for kWh to 3 places, micro-NZD for NZD to 6: the exchange's integers,
    coop.units), a column at a time. On PostgreSQL each goes as numeric text in exponent form,
    "1234e-6", which the server reads exactly; a Decimal made and then printed for each value
    costs three times as much in a 43,000-line settlement, and a call per value a fifth more
    than a column in one comprehension. Elsewhere each goes as the Decimal. A value that is not
    a whole number is refused (ValueError), never rounded."""
    places = _decimal_places(model, column)
    if connection.vendor == "postgresql":
        exponent = f"e-{places}"
        return lambda units: [f"{u:d}{exponent}" for u in units]
    return lambda units: [Decimal(f"{u:d}").scaleb(-places) for u in units]


def in_units(model: type[models.Model], column: str) -> Cast:
    """A DecimalField read as a whole number of its last decimal place (Wh for kWh to 3 places,
    micro-NZD for NZD to 6), worked out by the database: the exchange's integers without a
    Decimal made and converted in Python for each of a period's 20,000 orders or 10,000
    trades. Rounded before the cast, exact on PostgreSQL (numeric) and within a double's 15
    digits on SQLite, which keeps decimals as floating point."""
    places = _decimal_places(model, column)
    scaled = ExpressionWrapper(F(column) * Value(10**places), output_field=models.DecimalField())
    return Cast(Round(scaled), models.BigIntegerField())


def _decimal_places(model: type[models.Model], column: str) -> int:
    places = getattr(model._meta.get_field(column), "decimal_places", None)
    if places is None:
        raise ValueError(f"{model._meta.label}.{column} is not a DecimalField")
    return int(places)


def _copy(table: str, columns: list[str], rows: Iterable[tuple], defaults: tuple) -> int:
    quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
    written = 0
    with connection.cursor() as cursor:
        raw = cursor.connection  # psycopg's own connection: Django's cursor has no COPY
        with raw.cursor().copy(
            f"COPY {connection.ops.quote_name(table)} ({quoted}) FROM STDIN"
        ) as copy:
            for row in rows:
                copy.write_row((*row, *defaults))
                written += 1
    return written


def plain_rows(queryset: QuerySet) -> list[tuple]:
    """A values_list queryset's rows as the driver returns them, skipping Django's converter
    call per value: on PostgreSQL psycopg already gives ints, text, booleans and the in_units
    casts as Python's own, and the converters were a fifth of reading a period's 20,000 orders
    or 10,000 trades. Elsewhere (SQLite stores booleans as integers) the queryset's own rows.
    Only for such columns: not for a field whose converter changes the value."""
    if connection.vendor != "postgresql":
        return list(queryset)
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def with_ids(queryset: QuerySet[_M], ids: Sequence[int]) -> Iterator[QuerySet[_M]]:
    """`queryset` limited to these primary keys, in as few statements as the database allows:
    one on PostgreSQL, the ids sent as one array (an IN list of 10,000 placeholders costs more
    to build and parse than the statement takes to run); batches elsewhere (SQLite caps the
    variables of a statement)."""
    if connection.vendor == "postgresql":
        if ids:
            # A frozenset, not a list: Django walks a list's items one by one for expressions.
            yield queryset.filter(pk__any_of=frozenset(ids))
        return
    for start in range(0, len(ids), BATCH):
        yield queryset.filter(pk__in=ids[start : start + BATCH])
