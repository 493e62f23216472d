"""Opt-in response cache: an identical request at temperature 0 is answered from a local SQLite file
instead of the provider.

Why our own: LiteLLM's cache (``litellm.Cache``) needs ``fastapi`` on a cache hit in a plain install
(issue 4), so it is not used. Stdlib ``sqlite3`` only: no LiteLLM, no ``bpy``, safe on any thread.

- Key: SHA-256 (hex) of the canonical JSON (sorted keys, no spaces, UTF-8) of ``model``, ``messages``,
  ``temperature``, ``max_tokens`` and ``api_base``: :func:`request_key`. Requests with a temperature other
  than 0 are never cached (their answers are meant to vary): the key is None. The API key is not part of
  the key and is never stored.
- Stored: the answer text, the model that answered and the provider's token usage (None when unknown).
- Size cap: at most ``max_entries`` answers and ``max_bytes`` of answer text (UTF-8); the oldest written
  are evicted first, in the same transaction as the write.
- Concurrency and crashes: WAL mode, ``BEGIN IMMEDIATE`` write transactions, a busy timeout, one
  short-lived connection per call (see :mod:`.usage` for the same rules and SQLite's guarantees).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .store import connect, immediate_transaction

SCHEMA_VERSION = 1
_SCHEMA = (
    """CREATE TABLE answers (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        key TEXT NOT NULL UNIQUE,
        created_utc TEXT NOT NULL,
        model TEXT NOT NULL,
        answer TEXT NOT NULL,
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        size INTEGER NOT NULL
    )""",
)


class CacheError(Exception):
    """The cache file cannot be used (not a database, unwritable, locked past the busy timeout)."""


def canonical_request(
    model: str,
    messages: Sequence[Mapping[str, Any]],
    temperature: float,
    max_tokens: int,
    api_base: str | None = None,
) -> str:
    """The canonical JSON text of a request: sorted keys, ``","``/``":"`` separators, non-ASCII kept,
    numbers normalised (``temperature`` as float, ``max_tokens`` as int), an empty ``api_base`` as null.
    Raises ``TypeError``/``ValueError`` for contents JSON cannot hold (NaN included)."""
    request = {
        "v": 1,
        "model": model,
        "messages": [dict(m) for m in messages],
        "temperature": float(temperature),
        "max_tokens": int(max_tokens),
        "api_base": api_base or None,
    }
    return json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def request_key(
    model: str,
    messages: Sequence[Mapping[str, Any]],
    temperature: float,
    max_tokens: int,
    api_base: str | None = None,
) -> str | None:
    """SHA-256 hex digest of :func:`canonical_request`, or None when ``temperature != 0`` (not cacheable)."""
    if temperature != 0:
        return None
    text = canonical_request(model, messages, temperature, max_tokens, api_base)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CachedAnswer:
    """A stored answer: its text, the model that gave it, the provider's usage (tokens, None when the
    provider reported none) and when it was stored (aware UTC datetime)."""

    text: str
    model: str
    prompt_tokens: int | None
    completion_tokens: int | None
    created: datetime


class ResponseCache:
    """The cache in one SQLite file at ``path`` (created with its folder). ``max_entries`` answers and
    ``max_bytes`` bytes of answer text at most; ``busy_timeout`` seconds to wait for another writer.
    Raises :class:`CacheError` when the file cannot be opened as a database."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        max_entries: int = 1000,
        max_bytes: int = 50 * 1024 * 1024,
        busy_timeout: float = 5.0,
    ) -> None:
        if max_entries < 1 or max_bytes < 1:
            raise ValueError("max_entries and max_bytes must be at least 1")
        self.path = Path(path)
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.busy_timeout = busy_timeout
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._write(create=True) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            current = int(conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] or 0)
            if current < 1:
                for statement in _SCHEMA:
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))

    def _open(self) -> sqlite3.Connection:
        return connect(self.path, self.busy_timeout)

    @contextmanager
    def _write(self, create: bool = False) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction: committed at the end of the block, rolled back if it raises."""
        try:
            with closing(self._open()) as conn:
                if create:
                    conn.execute("PRAGMA journal_mode=WAL")
                with immediate_transaction(conn):
                    yield conn
        except sqlite3.Error as exc:
            raise CacheError(f"The response cache at {self.path} cannot be used: {exc}") from exc

    def get(self, key: str | None) -> CachedAnswer | None:
        """The answer stored under ``key``, or None (also for ``key=None``: an uncacheable request)."""
        if key is None:
            return None
        try:
            with closing(self._open()) as conn:
                row = conn.execute(
                    "SELECT answer, model, prompt_tokens, completion_tokens, created_utc FROM answers WHERE key = ?",
                    (key,),
                ).fetchone()
        except sqlite3.Error as exc:
            raise CacheError(f"The response cache at {self.path} cannot be read: {exc}") from exc
        if row is None:
            return None
        created = datetime.strptime(row[4], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        return CachedAnswer(row[0], row[1], row[2], row[3], created)

    def put(
        self,
        key: str | None,
        answer: str,
        model: str,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
    ) -> bool:
        """Store ``answer`` under ``key`` (replacing an older one, which then counts as newest), then
        evict the oldest answers beyond the caps. Returns False and stores nothing when ``key`` is None
        or the answer alone is larger than ``max_bytes``. Store only complete answers (a ``Finished``
        outcome), never a failed or cancelled one."""
        size = len(answer.encode("utf-8"))
        if key is None or size > self.max_bytes:
            return False
        created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        with self._write() as conn:
            conn.execute("DELETE FROM answers WHERE key = ?", (key,))
            conn.execute(
                "INSERT INTO answers (key, created_utc, model, answer, prompt_tokens, completion_tokens, size) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (key, created, model, answer, prompt_tokens, completion_tokens, size),
            )
            conn.execute(
                "DELETE FROM answers WHERE id IN (SELECT id FROM answers ORDER BY id DESC LIMIT -1 OFFSET ?)",
                (self.max_entries,),
            )
            conn.execute(
                "DELETE FROM answers WHERE id IN (SELECT id FROM "
                "(SELECT id, SUM(size) OVER (ORDER BY id DESC) AS running FROM answers) WHERE running > ?)",
                (self.max_bytes,),
            )
        return True

    def stats(self) -> tuple[int, int]:
        """``(answers stored, bytes of answer text)``."""
        try:
            with closing(self._open()) as conn:
                count, size = conn.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM answers").fetchone()
        except sqlite3.Error as exc:
            raise CacheError(f"The response cache at {self.path} cannot be read: {exc}") from exc
        return int(count), int(size)

    def clear(self) -> int:
        """Delete every stored answer; returns how many there were."""
        with self._write() as conn:
            return int(conn.execute("DELETE FROM answers").rowcount)
