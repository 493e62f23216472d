"""The SQLite transaction both of the add-on's databases (usage ledger, response cache) write with."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def immediate_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` (take the write lock now, waiting up to the connection's busy timeout, so two
    writers never deadlock upgrading a read lock), ``COMMIT`` at the end of the block, ``ROLLBACK`` if it
    raises. Raises ``sqlite3.Error`` as SQLite does (SQLite docs, "BEGIN TRANSACTION")."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
