"""One multi-row INSERT for a list of new model instances, without the ORM's query compiler.

`QuerySet.bulk_create` builds and compiles a query object for every call: on the SMTP ingest
path (ADR 0015, ADR 0022) that costs more CPU than SQLite's own work for a batch of one or a few
rows. `insert` does what `bulk_create` does for plain models — the same values, prepared by
each field's `pre_save` (`auto_now_add`…) and `get_db_prep_save` for the connection's backend,
the primary keys read back with `RETURNING` — with the statement's text built once per (model,
number of rows). Any app may call it (it imports none).

Not for models with multi-table inheritance, database defaults or generated fields (none of
the callers' models has them): use `bulk_create` there.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

from django.db import connections, models

__all__ = ["insert"]


@cache
def _statement(
    model: type[models.Model], count: int, using: str
) -> tuple[str, tuple[models.Field[object, object], ...]]:
    meta = model._meta
    quote = connections[using].ops.quote_name
    fields = tuple(field for field in meta.concrete_fields if field is not meta.pk)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    sql = (  # names from the model, values as parameters
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "  # noqa: S608
        f"VALUES {', '.join([row] * count)} RETURNING {quote(meta.pk.column)}"
    )
    return sql, fields


def insert(instances: Sequence[models.Model], *, using: str = "default") -> None:
    """Insert new instances of one model in one statement; each gets its primary key.

    The backend must return rows from an INSERT (SQLite ≥ 3.35, PostgreSQL), and return them in
    the order of the VALUES — what `bulk_create` relies on too.
    """
    if not instances:
        return
    model = type(instances[0])
    connection = connections[using]
    if not connection.features.can_return_rows_from_bulk_insert:  # pragma: no cover
        model._default_manager.using(using).bulk_create(instances)
        return
    sql, fields = _statement(model, len(instances), using)
    params = [
        field.get_db_prep_save(field.pre_save(instance, True), connection)
        for instance in instances
        for field in fields
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        keys = cursor.fetchall()
    for instance, (key,) in zip(instances, keys, strict=True):
        instance.pk = key
        instance._state.adding = False
        instance._state.db = using
