"""Django's PostgreSQL backend with a faster flush, for the test database only.

A transactional test (``django_db(transaction=True)``: the end-to-end and browser tests, whose
server and worker processes must see committed rows) empties every table after it. Django does
that with one ``TRUNCATE`` of all of them, which makes new files for each table, index and
TOAST table: about 0.3 s on this project's hundred-odd tables, though they hold a few rows each.
``DELETE`` of those rows costs a few milliseconds. Foreign keys are not checked while the rows go
(``session_replication_role = replica``, a superuser's setting, as the test role is here; for a
role without it the stock ``TRUNCATE`` stands), so the tables' order does not matter. Sequences
are reset only when a test asks (``reset_sequences``), as with the stock backend.
"""

from __future__ import annotations

from django.db.backends.postgresql import base


class DatabaseOperations(base.DatabaseOperations):
    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        if not tables or not self.connection.may_skip_foreign_keys():
            return super().sql_flush(
                style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
            )
        # one round trip for all of them
        deletes = " ".join(f"DELETE FROM {self.quote_name(table)};" for table in tables)
        sql = ["SET LOCAL session_replication_role = replica; " + deletes]
        if reset_sequences:
            sequences = self.connection.introspection.sequence_list()
            wanted = set(tables)
            sql += self.sequence_reset_by_name_sql(
                style, [s for s in sequences if s["table"] in wanted]
            )
        return sql


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
    _superuser: bool | None = None

    def may_skip_foreign_keys(self) -> bool:
        if self._superuser is None:
            with self.cursor() as cursor:
                cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
                row = cursor.fetchone()
            self._superuser = bool(row and row[0])
        return self._superuser
