"""The one SQLite helper of the add-on's two databases (usage ledger, response cache): how a connection is
opened and the transaction every write runs in."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager


def connect(path: str | os.PathLike[str], busy_timeout: float) -> sqlite3.Connection:
    """A connection to the database at ``path``: no implicit transactions (``isolation_level=None``: every write
    says ``BEGIN IMMEDIATE`` itself, see :func:`immediate_transaction`), waiting up to ``busy_timeout`` seconds
    for another connection's lock, and ``synchronous=NORMAL``, which with WAL is safe against application crashes
    (SQLite docs, "PRAGMA synchronous"). Raises ``sqlite3.Error``."""
    conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None)
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


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
