"""The shared cache's database backend: Django's DatabaseCache with an `incr` that is atomic.

Django's DatabaseCache inherits BaseCache.incr, a get followed by a set: two processes can
both read 3 and both write 4, and the set also resets the entry's expiry. Rate limits count
with incr, so here it reads the row under a lock (SELECT ... FOR UPDATE on PostgreSQL; on
SQLite the IMMEDIATE transaction takes the write lock at BEGIN) and updates only its value.
"""

from __future__ import annotations

import base64
import pickle

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
