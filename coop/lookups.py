"""`field__any_of=[...]`: a list of values as one parameter, for the lists of thousands of ids a
period's settlement and clearing filter by (every ICP of a 5,000-member co-op).

Django's `__in` prepares and binds each value on its own: with 5,000 ids that costs tens of
milliseconds in Python before the statement is sent, and the statement itself is one
placeholder per id to parse. On PostgreSQL `any_of` sends the list as one array (`= ANY(%s)`;
ids as the array's text, cast to bigint[]), which also plans as an index scan on the key
whatever the table's statistics say (`IN (SELECT unnest(...))` is planned from them, and a
period's orders inserted since the last ANALYZE made that a nested loop of minutes). Elsewhere
(SQLite for `make run`) it is a plain IN list. Registered when the coop app is ready
(coop.apps), so every app can use it.
"""

from __future__ import annotations

from typing import Any

from django.db import models


class AnyOf(models.Lookup):
    lookup_name = "any_of"
    prepare_rhs = False

    def get_db_prep_lookup(self, value: Any, connection: Any) -> Any:
        values = list(value)
        if connection.vendor == "postgresql":
            if all(type(v) is int for v in values):
                # Ids, as the array's text ("{1,2,3}"): joined in C, where psycopg's list
                # dumper quotes each element in Python (30 ms for a period's 20,000 orders).
                return "%s::bigint[]", ["{" + ",".join(map(str, values)) + "}"]
            return "%s", [values]
        return "(" + ", ".join(["%s"] * len(values)) + ")", values

    def as_sql(self, compiler: Any, connection: Any) -> Any:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY({rhs})", (*lhs_params, *rhs_params)
        if not rhs_params:
            return "1 = 0", tuple(lhs_params)  # no values: nothing matches, as `__in=[]`
        return f"{lhs} IN {rhs}", (*lhs_params, *rhs_params)


# A foreign key keeps lookups of its own (ForeignObject's), so it is registered on both:
# `icp_id__any_of` and `icp__any_of` take ids.
models.Field.register_lookup(AnyOf)
models.ForeignObject.register_lookup(AnyOf)
