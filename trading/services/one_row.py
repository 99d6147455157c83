"""One row read or written in plain SQL, its values converted as the ORM converts them.

For the few statements on the order API's path (a placement is a handful of one-row reads and
one insert): building a query through the ORM costs several times what the database takes to
run it. These take the SQL as written and do what the ORM does with each value (the backend's
adaptation on the way in, its converters on the way out: SQLite's text dates and float decimals
come back as aware datetimes and Decimals), so rows read here equal rows the ORM reads.

On PostgreSQL each statement is prepared once per connection and then only executed: planning
the placement's read (a join of five tables) cost PostgreSQL three times its execution. Django
binds parameters on the client and prepares nothing (for connection poolers' sake, it says);
these statements go through a server-side binding cursor instead, still wrapped by Django (its
errors and execute wrappers), on the same connection and in its transaction. A transaction-
pooling pgbouncer in front needs 1.21 or later (it tracks prepared statements).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any, cast

from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.models import Field
from django.db.models.sql import Query
from django.utils import timezone

NEVER_BY_COUNT = 2**31  # a prepare threshold no statement reaches (see _cursor)


def fields(model: type[models.Model], *names: str) -> tuple[Field, ...]:
    """The model's concrete fields of these names (a foreign key by its name: `member`)."""
    return tuple(cast(Field, model._meta.get_field(name)) for name in names)


def quoted(model: type[models.Model], alias: str = "") -> str:
    """The model's table, quoted, with an alias if given: for writing the SQL."""
    table = connection.ops.quote_name(model._meta.db_table)
    return f"{table} {alias}" if alias else table


def column(field: Field, alias: str) -> str:
    return f"{alias}.{connection.ops.quote_name(_column(field))}"


def _column(field: Field) -> str:
    assert field.column is not None  # concrete fields have one
    return field.column


class Columns:
    """The model fields whose values a statement's columns hold, in order: column i is
    converted as the ORM converts fields[i] (the field it is, or whose kind of value it holds).
    Made once per statement, at import: its converters are worked out once per backend."""

    def __init__(self, *fields: Field) -> None:
        self.fields = fields
        self._converters: dict[str, Any] = {}

    def convert(self, row: Sequence[Any]) -> list[Any]:
        converters = self._converters.get(connection.vendor)
        if converters is None:
            converters = _compiler().get_converters(
                [f.get_col(f.model._meta.db_table) for f in self.fields]
            )
            self._converters[connection.vendor] = converters
        if not converters:
            return list(row)
        converted: list[Any] = next(iter(_compiler().apply_converters([row], converters)))
        return converted


def fetch_row(sql: str, params: Sequence[Any], columns: Columns) -> list[Any] | None:
    """The first row of `sql` (None if none), converted as `columns` says."""
    with _cursor(_db()) as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return None if row is None else columns.convert(row)


def instance(model: type[models.Model], fields: Sequence[Field], values: Sequence[Any]) -> Any:
    """A model instance from these fields' values, as the ORM builds one it read (fields not
    given are deferred: they load if asked for)."""
    return model.from_db(connection.alias, [f.attname for f in fields], values)


def insert_row(
    model: type[models.Model],
    values: Mapping[str, Any],
    *,
    conflict: Sequence[str] = (),
    unless: tuple[str, Sequence[Any]] | None = None,
) -> int | None:
    """Insert one row (`values` by attname; fields left out take their defaults, auto_now ones
    the time now) and return its id; None instead, the caller's transaction going on:
    - with `conflict` (the fields of a unique constraint), when a row with those values is
      there already (INSERT ... ON CONFLICT DO NOTHING, not an IntegrityError);
    - with `unless` (a query and its parameters), when that query finds a row: the check and
      the insert in one statement (INSERT ... SELECT ... WHERE NOT EXISTS), one round trip."""
    meta = model._meta
    now = timezone.now()
    row: dict[Field, Any] = {}
    for f in meta.concrete_fields:
        if f.primary_key:
            continue
        if f.attname in values:
            row[f] = values[f.attname]
        elif getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            row[f] = now
        else:
            row[f] = f.get_default()
    qn = connection.ops.quote_name
    names = ", ".join(qn(_column(f)) for f in row)
    marks = ", ".join(["%s"] * len(row))
    source, unless_params = f"VALUES ({marks})", []
    if unless is not None:
        unless_sql, unless_params = unless[0], list(unless[1])
        source = f"SELECT {marks} WHERE NOT EXISTS ({unless_sql})"
    on_conflict = ""
    if conflict:
        keys = ", ".join(qn(_column(f)) for f in fields(model, *conflict))
        on_conflict = f" ON CONFLICT ({keys}) DO NOTHING"
    assert meta.pk is not None
    sql = (
        f"INSERT INTO {quoted(model)} ({names}) {source}{on_conflict} "
        f"RETURNING {qn(_column(meta.pk))}"
    )
    db = _db()
    with _cursor(db) as cursor:
        params = [f.get_db_prep_save(v, db) for f, v in row.items()]
        cursor.execute(sql, params + unless_params)
        inserted = cursor.fetchone()
    return None if inserted is None else int(inserted[0])


@functools.cache
def _prepared_cursor_class() -> Any:
    from django.db.backends.postgresql.base import ServerBindingCursor

    class Prepared(ServerBindingCursor):
        def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
            # Django's wrapper passes no `prepare`: True prepares the statement the first
            # time this connection runs it, and reuses it after.
            return super().execute(query, params, prepare=True, **kwargs)  # type: ignore[misc]

    return Prepared


def _db() -> Any:
    # The thread's connection itself: each attribute read through the `connection` proxy is a
    # lookup in asgiref's context-local storage, and a statement here reads a dozen.
    return connections[DEFAULT_DB_ALIAS]


def _cursor(db: Any) -> Any:
    if db.vendor != "postgresql" or db.queries_logged:
        # Logging queries (DEBUG, or a test counting them): Django's own cursor, which logs
        # each statement's text; a server-side binding cursor leaves it nothing to log.
        return db.cursor()
    db.ensure_connection()
    raw = db.connection
    if raw.prepare_threshold is None:
        # Django's "prepare nothing": psycopg then prepares nothing even when asked. A threshold
        # no statement reaches keeps every other statement unprepared and lets these ask.
        raw.prepare_threshold = NEVER_BY_COUNT
    with db.wrap_database_errors:
        # What connection.cursor() does, with this cursor class (Django names no public way).
        return db._prepare_cursor(_prepared_cursor_class()(raw))


def _compiler() -> Any:
    return connection.ops.compiler("SQLCompiler")(Query(None), connection, None)
