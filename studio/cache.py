"""The shared cache's database backend: Django's DatabaseCache with an `incr` that is atomic
and an `add` that is one statement.

Django's DatabaseCache inherits BaseCache.incr, a get followed by a set: two processes can
both read 3 and both write 4, and the set also resets the entry's expiry. Rate limits count
with incr, so here it reads the row under a lock (SELECT ... FOR UPDATE on PostgreSQL; on
SQLite the IMMEDIATE transaction takes the write lock at BEGIN) and updates only its value.

Every limit and every paid POST's repeat guard starts with `add`. Django's takes a savepoint,
counts the table, reads the key and writes it (five statements); here it is one upsert that
takes the key only when it is free or expired, atomic on SQLite and PostgreSQL alike. Expired
rows are swept by `delete_expired`, which the workers' requeue job runs (every 15 s under
`manage.py worker`, every minute from its Schedule), never in a request.
"""

from __future__ import annotations

import base64
import pickle
from datetime import UTC, datetime

from django.conf import settings
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.db import DatabaseCache
from django.db import connections, router, transaction
from django.utils.timezone import now


class AtomicDatabaseCache(DatabaseCache):
    def incr(self, key, delta=1, version=None):  # type: ignore[no-untyped-def]
        key = self.make_and_validate_key(key, version=version)
        db = router.db_for_write(self.cache_model_class)
        connection = connections[db]
        quote = connection.ops.quote_name
        table, value_col, key_col = quote(self._table), quote("value"), quote("cache_key")
        lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
        current = connection.ops.adapt_datetimefield_value(now().replace(microsecond=0))
        with transaction.atomic(using=db), connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {value_col} FROM {table} WHERE {key_col} = %s AND "  # noqa: S608
                f"{quote('expires')} > %s{lock}",
                [key, current],
            )
            row = cursor.fetchone()
            if row is None:
                raise ValueError(f"Key '{key}' not found")
            value = pickle.loads(base64.b64decode(row[0].encode())) + delta  # noqa: S301
            encoded = base64.b64encode(pickle.dumps(value, self.pickle_protocol)).decode("latin1")
            cursor.execute(
                f"UPDATE {table} SET {value_col} = %s WHERE {key_col} = %s",  # noqa: S608
                [encoded, key],
            )
        return value

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):  # type: ignore[no-untyped-def]
        key = self.make_and_validate_key(key, version=version)
        timeout = self.get_backend_timeout(timeout)
        db = router.db_for_write(self.cache_model_class)
        connection = connections[db]
        quote = connection.ops.quote_name
        table, expires = quote(self._table), quote("expires")
        current = now().replace(microsecond=0)
        if timeout is None:
            until = datetime.max
        else:
            until = datetime.fromtimestamp(timeout, tz=UTC if settings.USE_TZ else None)
        until = until.replace(microsecond=0)
        encoded = base64.b64encode(pickle.dumps(value, self.pickle_protocol)).decode("latin1")
        adapt = connection.ops.adapt_datetimefield_value
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} ({quote('cache_key')}, {quote('value')}, {expires}) "  # noqa: S608
                f"VALUES (%s, %s, %s) ON CONFLICT ({quote('cache_key')}) DO UPDATE SET "
                f"{quote('value')} = excluded.{quote('value')}, {expires} = excluded.{expires} "
                f"WHERE {table}.{expires} < %s",
                [key, encoded, adapt(until), adapt(current)],
            )
            return cursor.rowcount == 1

    def delete_expired(self) -> int:
        """Remove every expired entry; returns how many."""
        db = router.db_for_write(self.cache_model_class)
        connection = connections[db]
        quote = connection.ops.quote_name
        current = connection.ops.adapt_datetimefield_value(now().replace(microsecond=0))
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {quote(self._table)} WHERE {quote('expires')} < %s",  # noqa: S608
                [current],
            )
            return cursor.rowcount
