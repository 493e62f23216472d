"""The usage ledger: one SQLite row per request sent to a model, and the summaries the Usage panel shows.

Stdlib ``sqlite3`` only; no LiteLLM, no ``bpy``: safe on Blender's main thread (a write takes about a
millisecond; it waits up to ``busy_timeout`` seconds only while another writer holds the lock).

Where: a path chosen by the caller. The Blender layer passes
``Path(bpy.utils.extension_path_user(__package__, create=True)) / "usage.sqlite3"``.

Safety (SQLite's own guarantees, https://www.sqlite.org/wal.html and https://www.sqlite.org/atomiccommit.html):

- WAL journal mode (set once, persistent in the file): readers never block the writer and a writer
  never blocks readers; two writers (two jobs finishing at once, in threads or in two Blender
  processes) take turns, each waiting up to ``busy_timeout`` seconds (``sqlite3.connect(timeout=...)``).
- Every write is one transaction begun with ``BEGIN IMMEDIATE`` (the write lock is taken up front, so a
  waiting writer is queued by the busy handler instead of failing on a lock upgrade) and committed as a
  whole: a crash or an exception mid-write leaves none of its rows, and the file stays consistent.
- ``synchronous=NORMAL`` (per connection): in WAL mode a commit survives the application crashing at any
  point (a Blender crash); only an OS crash or power loss may undo the last commits, never corrupt the
  file (https://www.sqlite.org/pragma.html#pragma_synchronous). It spares an fsync per request.
- Every operation opens its own short-lived connection, so the ledger object may be shared by threads.

Times are stored as UTC ISO 8601 text (``2025-03-11T21:04:05.123456Z``) and compared as text. The summaries
use *local* calendar boundaries (see :func:`period_bounds`): today starts at local midnight, the week on
Monday at local midnight (ISO 8601 weeks), the month on the 1st at local midnight.
"""

from __future__ import annotations

import csv
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, Literal

from .cost import Cost, format_usd
from .store import connect, immediate_transaction

#: The schema this code writes. Migrations only ever add tables/columns, so an older add-on can still
#: write into a ledger a newer one has migrated (it simply leaves the new columns at their defaults).
SCHEMA_VERSION = 2

#: ``MIGRATIONS[n]`` takes the schema from version ``n`` to ``n + 1``.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE requests (
            id INTEGER PRIMARY KEY,
            time_utc TEXT NOT NULL,
            model TEXT NOT NULL,
            operator TEXT NOT NULL DEFAULT '',
            script TEXT NOT NULL DEFAULT '',
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            estimated INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL,
            ttft_s REAL,
            duration_s REAL NOT NULL DEFAULT 0,
            outcome TEXT NOT NULL
        )""",
        "CREATE INDEX requests_by_time ON requests (time_utc)",
    ),
    # 2: who priced the cost: "gateway" (a studio gateway's own figure), "map" (LiteLLM's public cost map),
    # "custom" (the user's rates), "cached", "unknown"; '' for rows written before.
    ("ALTER TABLE requests ADD COLUMN cost_source TEXT NOT NULL DEFAULT ''",),
)

#: Columns of ``requests`` in CSV order (``id`` left out).
COLUMNS = (
    "time_utc",
    "model",
    "operator",
    "script",
    "input_tokens",
    "output_tokens",
    "estimated",
    "cost_usd",
    "ttft_s",
    "duration_s",
    "outcome",
    "cost_source",
)

#: Outcomes the add-on records. ``cached`` rows were answered from the local cache: no provider tokens
#: or cost, so the totals count them apart (:attr:`Totals.cached_requests`) and budgets ignore them.
Outcome = Literal["finished", "failed", "cancelled", "cached"]

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


class LedgerError(Exception):
    """The ledger file cannot be used (not a database, unwritable, locked longer than the busy timeout).
    The message is safe to show a person."""


def utc_text(moment: datetime) -> str:
    """``moment`` as stored: UTC ISO 8601 with microseconds and ``Z``. A naive ``moment`` is taken as
    local time (Python's ``datetime.astimezone`` rule)."""
    return moment.astimezone(UTC).strftime(_TIME_FORMAT)


def parse_utc_text(text: str) -> datetime:
    """The aware UTC datetime of a stored time string (inverse of :func:`utc_text`)."""
    return datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=UTC)


# --- local calendar periods -----------------------------------------------------------------------

Period = Literal["day", "week", "month"]


def _local_midnight(day: date, tz: tzinfo | None) -> datetime:
    if tz is None:
        # System local time: astimezone() on a naive datetime uses the OS's rules, DST included.
        return datetime(day.year, day.month, day.day).astimezone()
    return datetime(day.year, day.month, day.day, tzinfo=tz)


def period_bounds(period: Period, now: datetime | None = None) -> tuple[datetime, datetime]:
    """``(start, end)`` of the local day, week or month containing ``now``, as aware datetimes;
    ``start`` is included, ``end`` excluded (it is when that period "resets").

    Local means: ``now``'s own timezone when ``now`` is aware (pass a ``zoneinfo.ZoneInfo`` time for
    DST-correct boundaries), the system's local time when ``now`` is naive or None (the default, as
    Blender users expect). Day: local midnight to the next; week: Monday 00:00 to the next Monday
    (ISO 8601); month: the 1st 00:00 to the 1st of the next month. Raises ``ValueError`` for another
    ``period``.
    """
    if now is None:
        now = datetime.now()
    tz = now.tzinfo
    today = now.date()
    if period == "day":
        first, after = today, today + timedelta(days=1)
    elif period == "week":
        first = today - timedelta(days=today.weekday())
        after = first + timedelta(days=7)
    elif period == "month":
        first = today.replace(day=1)
        after = (first + timedelta(days=32)).replace(day=1)
    else:
        raise ValueError(f"unknown period {period!r}: use 'day', 'week' or 'month'")
    return _local_midnight(first, tz), _local_midnight(after, tz)


# --- records and totals ---------------------------------------------------------------------------


@dataclass(frozen=True)
class UsageRecord:
    """One request, as stored.

    ``model``: the LiteLLM model string; ``operator``: e.g. ``"screenwriter.analyze_scene"``; ``script``:
    the screenplay Text's name (``""`` when none). Tokens are counts; ``estimated`` is True when they were
    counted locally instead of reported by the provider. ``cost_usd``: USD, None when unknown.
    ``ttft_s``/``duration_s``: seconds (time to first token is None when no text arrived). ``outcome``:
    ``finished``/``failed``/``cancelled``/``cached``. ``time``: when it ended (default: now). ``cost_source``: who
    priced ``cost_usd`` (:data:`~.cost.Pricing`: ``gateway`` for a studio gateway's own figure, ``map`` for the
    local estimate from LiteLLM's map, ``custom``, ``cached``, ``unknown``).
    """

    model: str
    outcome: str
    operator: str = ""
    script: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    estimated: bool = False
    cost_usd: float | None = None
    ttft_s: float | None = None
    duration_s: float = 0.0
    time: datetime = field(default_factory=lambda: datetime.now(UTC))
    cost_source: str = ""

    @classmethod
    def from_cost(
        cls,
        cost: Cost,
        *,
        model: str,
        outcome: str,
        operator: str = "",
        script: str = "",
        ttft_s: float | None = None,
        duration_s: float = 0.0,
        time: datetime | None = None,
    ) -> UsageRecord:
        """A record with tokens, estimated flag and USD taken from a :class:`~.cost.Cost`."""
        return cls(
            model=model,
            outcome=outcome,
            operator=operator,
            script=script,
            input_tokens=cost.input_tokens,
            output_tokens=cost.output_tokens,
            estimated=cost.estimated_tokens,
            cost_usd=cost.usd,
            ttft_s=ttft_s,
            duration_s=duration_s,
            time=time or datetime.now(UTC),
            cost_source=cost.pricing,
        )

    def _row(self) -> tuple[object, ...]:
        return (
            utc_text(self.time),
            self.model,
            self.operator,
            self.script,
            int(self.input_tokens),
            int(self.output_tokens),
            int(bool(self.estimated)),
            None if self.cost_usd is None else float(self.cost_usd),
            None if self.ttft_s is None else float(self.ttft_s),
            float(self.duration_s),
            self.outcome,
            self.cost_source,
        )


@dataclass(frozen=True)
class Totals:
    """Sums over a set of ledger rows.

    ``requests``: every row; ``cached_requests``: rows answered from the cache (their tokens and cost are
    *not* in the sums: no provider was paid). ``input_tokens``/``output_tokens``: sums over the others.
    ``cost_usd``: sum of the known costs, USD; ``unknown_cost_requests``: rows whose cost is unknown (not
    in the sum); ``estimated_requests``: rows with locally counted tokens.
    """

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    unknown_cost_requests: int = 0
    estimated_requests: int = 0
    cached_requests: int = 0

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    def describe(self) -> str:
        """``"3 requests, 1,234 tokens, $0.12 (+1 with unknown cost, 1 cached)"``."""
        text = f"{self.requests} request{'' if self.requests == 1 else 's'}, {self.total_tokens:,} tokens, "
        text += format_usd(self.cost_usd)
        notes = []
        if self.unknown_cost_requests:
            notes.append(f"+{self.unknown_cost_requests} with unknown cost")
        if self.estimated_requests:
            notes.append(f"{self.estimated_requests} estimated")
        if self.cached_requests:
            notes.append(f"{self.cached_requests} cached")
        return text + (f" ({', '.join(notes)})" if notes else "")


@dataclass(frozen=True)
class Summary:
    """What the Usage panel shows: totals for the local day, week and month, and the month's totals per
    model and per script (largest cost first)."""

    today: Totals
    week: Totals
    month: Totals
    by_model: list[tuple[str, Totals]]
    by_script: list[tuple[str, Totals]]


_TOTALS_SQL = """
    SELECT COUNT(*),
           COALESCE(SUM(CASE WHEN outcome != 'cached' THEN input_tokens END), 0),
           COALESCE(SUM(CASE WHEN outcome != 'cached' THEN output_tokens END), 0),
           COALESCE(SUM(CASE WHEN outcome != 'cached' THEN cost_usd END), 0.0),
           COALESCE(SUM(outcome != 'cached' AND cost_usd IS NULL), 0),
           COALESCE(SUM(estimated), 0),
           COALESCE(SUM(outcome = 'cached'), 0)
    FROM requests
"""


def _totals(row: Sequence[Any]) -> Totals:
    values = [0 if v is None else v for v in row]
    return Totals(
        requests=int(values[0]),
        input_tokens=int(values[1]),
        output_tokens=int(values[2]),
        cost_usd=float(values[3]),
        unknown_cost_requests=int(values[4]),
        estimated_requests=int(values[5]),
        cached_requests=int(values[6]),
    )


def _where(start: datetime | None, end: datetime | None, **equals: str | None) -> tuple[str, list[object]]:
    clauses: list[str] = []
    params: list[object] = []
    if start is not None:
        clauses.append("time_utc >= ?")
        params.append(utc_text(start))
    if end is not None:
        clauses.append("time_utc < ?")
        params.append(utc_text(end))
    for column, value in equals.items():
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


# --- the ledger -----------------------------------------------------------------------------------


class UsageLedger:
    """The usage history in one SQLite file at ``path`` (created with its parent folder if missing).

    ``busy_timeout``: seconds a write or read waits for another connection's lock before raising
    :class:`LedgerError`. Opening creates or migrates the schema (``schema_version`` table). Raises
    :class:`LedgerError` when the file is not a usable SQLite database.
    """

    def __init__(self, path: str | os.PathLike[str], busy_timeout: float = 5.0) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with closing(self._open()) as conn:
                conn.execute("PRAGMA journal_mode=WAL")
                self._migrate(conn)
        except sqlite3.Error as exc:
            raise LedgerError(f"The usage history at {self.path} cannot be opened: {exc}") from exc

    # --- connections and transactions ---

    def _open(self) -> sqlite3.Connection:
        return connect(self.path, self.busy_timeout)

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        try:
            with closing(self._open()) as conn:
                conn.execute("BEGIN")  # one snapshot for every SELECT of this read
                try:
                    yield conn
                finally:
                    conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise LedgerError(f"The usage history at {self.path} cannot be read: {exc}") from exc

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed when the block ends, rolled back (nothing written) when it
        raises. ``sqlite3`` errors become :class:`LedgerError`; other exceptions pass through."""
        try:
            conn = self._open()
        except sqlite3.Error as exc:
            raise LedgerError(f"The usage history at {self.path} cannot be opened: {exc}") from exc
        with closing(conn):
            try:
                with immediate_transaction(conn):
                    yield conn
            except sqlite3.Error as exc:
                raise LedgerError(f"The usage history at {self.path} cannot be written: {exc}") from exc

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
            current = int(row[0] or 0)
            for version in range(current, SCHEMA_VERSION):
                for statement in MIGRATIONS[version]:
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version + 1,))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def schema_version(self) -> int:
        """The schema version stored in the file."""
        with self._read() as conn:
            return int(conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] or 0)

    # --- writing ---

    def record(self, record: UsageRecord) -> int:
        """Append one row in its own transaction; returns its row id. Raises :class:`LedgerError`."""
        with self._write() as conn:
            cursor = conn.execute(
                f"INSERT INTO requests ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                record._row(),
            )
            return int(cursor.lastrowid or 0)

    def record_many(self, records: Iterable[UsageRecord]) -> int:
        """Append every record of ``records`` in one transaction (all or none: an exception raised while
        iterating, or a crash, leaves none of them); returns how many were written."""
        count = 0
        with self._write() as conn:
            for record in records:
                conn.execute(
                    f"INSERT INTO requests ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                    record._row(),
                )
                count += 1
        return count

    # --- reading ---

    def totals(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        model: str | None = None,
        script: str | None = None,
    ) -> Totals:
        """Totals of the rows with ``start <= time < end`` (either may be None: unbounded), optionally of
        one model or one script."""
        where, params = _where(start, end, model=model, script=script)
        with self._read() as conn:
            return _totals(conn.execute(_TOTALS_SQL + where, params).fetchone())

    def period(self, period: Period, now: datetime | None = None) -> Totals:
        """Totals of the local day, week or month containing ``now`` (see :func:`period_bounds`)."""
        return self.totals(*period_bounds(period, now))

    def today(self, now: datetime | None = None) -> Totals:
        """Totals since local midnight."""
        return self.period("day", now)

    def this_week(self, now: datetime | None = None) -> Totals:
        """Totals since Monday, local midnight."""
        return self.period("week", now)

    def this_month(self, now: datetime | None = None) -> Totals:
        """Totals since the 1st of the month, local midnight."""
        return self.period("month", now)

    def _grouped(self, column: str, start: datetime | None, end: datetime | None) -> list[tuple[str, Totals]]:
        where, params = _where(start, end)
        sql = _TOTALS_SQL.replace("SELECT", f"SELECT {column},", 1) + where + f" GROUP BY {column}"
        with self._read() as conn:
            rows = conn.execute(sql, params).fetchall()
        groups = [(str(row[0]), _totals(row[1:])) for row in rows]
        groups.sort(key=lambda g: (-g[1].cost_usd, -g[1].total_tokens, g[0]))
        return groups

    def by_model(self, start: datetime | None = None, end: datetime | None = None) -> list[tuple[str, Totals]]:
        """``[(model, totals), ...]`` for rows in ``[start, end)``, largest cost (then tokens) first."""
        return self._grouped("model", start, end)

    def by_script(self, start: datetime | None = None, end: datetime | None = None) -> list[tuple[str, Totals]]:
        """``[(script name, totals), ...]`` for rows in ``[start, end)``, largest cost (then tokens) first."""
        return self._grouped("script", start, end)

    def summary(self, now: datetime | None = None) -> Summary:
        """Everything the Usage panel shows, for the periods containing ``now``; per model and per script
        cover this month."""
        month = period_bounds("month", now)
        return Summary(
            today=self.period("day", now),
            week=self.period("week", now),
            month=self.totals(*month),
            by_model=self.by_model(*month),
            by_script=self.by_script(*month),
        )

    def records(self, start: datetime | None = None, end: datetime | None = None) -> list[UsageRecord]:
        """The rows in ``[start, end)``, oldest first."""
        where, params = _where(start, end)
        with self._read() as conn:
            rows = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM requests{where} ORDER BY time_utc, id", params)
            return [
                UsageRecord(
                    time=parse_utc_text(r[0]),
                    model=r[1],
                    operator=r[2],
                    script=r[3],
                    input_tokens=r[4],
                    output_tokens=r[5],
                    estimated=bool(r[6]),
                    cost_usd=r[7],
                    ttft_s=r[8],
                    duration_s=r[9],
                    outcome=r[10],
                    cost_source=r[11],
                )
                for r in rows.fetchall()
            ]

    def export_csv(
        self, path: str | os.PathLike[str], start: datetime | None = None, end: datetime | None = None
    ) -> int:
        """Write the rows in ``[start, end)`` to a CSV file at ``path`` (UTF-8, a header row of
        :data:`COLUMNS`; times UTC ISO 8601; unknown cost and TTFT as empty fields; ``estimated`` 0/1).
        Written to a temporary file first and renamed, so a failed export never leaves half a file.
        Returns the number of data rows. Raises :class:`LedgerError` or ``OSError``."""
        target = Path(path)
        temporary = target.with_name(target.name + ".part")
        where, params = _where(start, end)
        count = 0
        try:
            with self._read() as conn, open(temporary, "w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerow(COLUMNS)
                query = f"SELECT {', '.join(COLUMNS)} FROM requests{where} ORDER BY time_utc, id"
                for row in conn.execute(query, params):
                    writer.writerow(["" if value is None else value for value in row])
                    count += 1
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
        return count
