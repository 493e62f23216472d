"""core.usage: the SQLite usage ledger on real files — summaries over local calendar periods, CSV export,
concurrent writers (threads, connections, processes), and crashes mid-transaction."""

from __future__ import annotations

import csv
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from screenwriter_llm.core.accounting.cost import Cost
from screenwriter_llm.core.accounting.usage import (
    COLUMNS,
    SCHEMA_VERSION,
    LedgerError,
    UsageLedger,
    UsageRecord,
    period_bounds,
)

REPO = Path(__file__).resolve().parents[4]
BERLIN = ZoneInfo("Europe/Berlin")
# Wednesday 12 March 2025, 10:00 in Berlin (UTC+1).
NOW = datetime(2025, 3, 12, 10, 0, tzinfo=BERLIN)


def record(when: datetime, **fields) -> UsageRecord:
    values = {
        "model": "openai/gpt-4o-mini",
        "outcome": "finished",
        "operator": "screenwriter.analyze_scene",
        "script": "night-ferry.fountain",
        "input_tokens": 100,
        "output_tokens": 10,
        "cost_usd": 0.01,
        "ttft_s": 0.4,
        "duration_s": 2.5,
    }
    values.update(fields)
    return UsageRecord(time=when, **values)


@pytest.fixture
def ledger(tmp_path):
    return UsageLedger(tmp_path / "user" / "usage.sqlite3")


def count_rows(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT COUNT(*) FROM requests").fetchone()[0]


def test_a_new_ledger_is_created_in_wal_mode_with_its_schema_version(tmp_path):
    path = tmp_path / "nested" / "dir" / "usage.sqlite3"
    ledger = UsageLedger(path)
    assert path.exists()
    assert ledger.schema_version() == SCHEMA_VERSION
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert [r[0] for r in conn.execute("SELECT version FROM schema_version")] == list(range(1, SCHEMA_VERSION + 1))
    UsageLedger(path)  # reopening migrates nothing twice
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == SCHEMA_VERSION


def test_a_version_1_ledger_gains_the_cost_source_column_and_keeps_its_rows(tmp_path):
    from screenwriter_llm.core.accounting.usage import MIGRATIONS

    path = tmp_path / "usage.sqlite3"
    with sqlite3.connect(path) as conn:  # a ledger as the add-on before studio mode wrote it
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        for statement in MIGRATIONS[0]:
            conn.execute(statement)
        conn.execute("INSERT INTO schema_version VALUES (1)")
        conn.execute(
            "INSERT INTO requests (time_utc, model, input_tokens, output_tokens, cost_usd, outcome) "
            "VALUES ('2026-11-30T10:00:00.000000Z', 'openai/gpt-4o', 10, 5, 0.001, 'finished')"
        )
    ledger = UsageLedger(path)
    assert ledger.schema_version() == 2
    old = ledger.records()
    assert [(r.model, r.cost_usd, r.cost_source) for r in old] == [("openai/gpt-4o", 0.001, "")]
    ledger.record(
        UsageRecord(model="litellm_proxy/studio-writer", outcome="finished", cost_usd=0.000111, cost_source="gateway")
    )
    assert [r.cost_source for r in ledger.records()] == ["", "gateway"]


def test_a_file_that_is_not_a_database_gives_a_readable_error(tmp_path):
    path = tmp_path / "usage.sqlite3"
    path.write_text("this is not SQLite " * 100)
    with pytest.raises(LedgerError, match="cannot be opened"):
        UsageLedger(path)


def test_a_record_round_trips(ledger):
    when = datetime(2025, 3, 12, 9, 1, 2, 345678, tzinfo=UTC)
    row = record(when, cost_usd=None, ttft_s=None, estimated=True, outcome="cancelled")
    ledger.record(row)
    assert ledger.records() == [row]


def test_record_from_cost_takes_tokens_money_and_the_estimate_flag(ledger):
    cost = Cost(12, 5, 0.00066, (3e-5, 6e-5), estimated_tokens=True, source="estimate", pricing="map")
    row = UsageRecord.from_cost(cost, model="openai/gpt-4-0613", outcome="finished", ttft_s=0.2, duration_s=1.0)
    ledger.record(row)
    (stored,) = ledger.records()
    assert (stored.input_tokens, stored.output_tokens, stored.cost_usd, stored.estimated) == (12, 5, 0.00066, True)


def test_summaries_follow_local_day_week_and_month(ledger):
    rows = {
        "last month": record(datetime(2025, 2, 28, 23, 59, tzinfo=BERLIN), input_tokens=1, cost_usd=1.0),
        "month start": record(datetime(2025, 3, 1, 0, 0, tzinfo=BERLIN), input_tokens=2, cost_usd=2.0),
        "last week": record(datetime(2025, 3, 9, 23, 0, tzinfo=BERLIN), input_tokens=4, cost_usd=4.0),
        "monday": record(datetime(2025, 3, 10, 0, 0, tzinfo=BERLIN), input_tokens=8, cost_usd=8.0),
        "yesterday late": record(datetime(2025, 3, 11, 23, 30, tzinfo=BERLIN), input_tokens=16, cost_usd=16.0),
        "today early": record(datetime(2025, 3, 12, 0, 5, tzinfo=BERLIN), input_tokens=32, cost_usd=32.0),
        "today": record(datetime(2025, 3, 12, 9, 0, tzinfo=BERLIN), input_tokens=64, cost_usd=None),
        "thursday": record(datetime(2025, 3, 13, 0, 0, tzinfo=BERLIN), input_tokens=128, cost_usd=128.0),
        "next month": record(datetime(2025, 4, 1, 0, 0, tzinfo=BERLIN), input_tokens=256, cost_usd=256.0),
    }
    ledger.record_many(rows.values())

    def expect(names):
        chosen = [rows[n] for n in names]
        known = [r.cost_usd for r in chosen if r.cost_usd is not None]
        return (
            len(chosen),
            sum(r.input_tokens for r in chosen),
            pytest.approx(sum(known)),
            len(chosen) - len(known),
        )

    def got(totals):
        return totals.requests, totals.input_tokens, totals.cost_usd, totals.unknown_cost_requests

    assert got(ledger.today(NOW)) == expect(["today early", "today"])
    assert got(ledger.this_week(NOW)) == expect(["monday", "yesterday late", "today early", "today", "thursday"])
    assert got(ledger.this_month(NOW)) == expect(
        ["month start", "last week", "monday", "yesterday late", "today early", "today", "thursday"]
    )
    summary = ledger.summary(NOW)
    assert got(summary.today) == got(ledger.today(NOW)) and got(summary.month) == got(ledger.this_month(NOW))
    assert "with unknown cost" in summary.today.describe()


def test_period_bounds_are_local_midnights_and_survive_dst():
    start, end = period_bounds("day", NOW)
    assert (start, end) == (datetime(2025, 3, 12, tzinfo=BERLIN), datetime(2025, 3, 13, tzinfo=BERLIN))
    start, end = period_bounds("week", NOW)
    assert start.weekday() == 0 and (start.date().isoformat(), end.date().isoformat()) == ("2025-03-10", "2025-03-17")
    # Berlin moves to summer time on 30 March 2025: the month is one hour shorter than 31 days.
    start, end = period_bounds("month", NOW)
    assert (start.hour, end.hour, end.date().isoformat()) == (0, 0, "2025-04-01")
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(days=31, hours=-1)
    # December rolls over into January.
    assert period_bounds("month", datetime(2025, 12, 31, 23, 0, tzinfo=BERLIN))[1] == datetime(
        2026, 1, 1, tzinfo=BERLIN
    )
    # Naive (or no) time means the system's local time; the result is aware.
    start, end = period_bounds("day", datetime(2025, 6, 1, 12, 0))
    assert start.tzinfo is not None and (start.day, start.hour, end.day) == (1, 0, 2)
    with pytest.raises(ValueError):
        period_bounds("year", NOW)  # type: ignore[arg-type]


def test_per_model_and_per_script_largest_cost_first(ledger):
    at = NOW - timedelta(hours=1)
    ledger.record_many(
        [
            record(at, model="openai/gpt-4o-mini", script="a.fountain", cost_usd=0.02),
            record(at, model="anthropic/claude-sonnet-4-5", script="a.fountain", cost_usd=0.50),
            record(at, model="anthropic/claude-sonnet-4-5", script="b.fountain", cost_usd=0.25),
            record(at, model="ollama_chat/llama3.1", script="b.fountain", cost_usd=None, input_tokens=5000),
        ]
    )
    models = ledger.by_model()
    assert [m for m, _ in models] == ["anthropic/claude-sonnet-4-5", "openai/gpt-4o-mini", "ollama_chat/llama3.1"]
    assert models[0][1].requests == 2 and models[0][1].cost_usd == pytest.approx(0.75)
    assert models[2][1].unknown_cost_requests == 1 and models[2][1].input_tokens == 5000
    scripts = dict(ledger.by_script())
    assert scripts["a.fountain"].cost_usd == pytest.approx(0.52)
    assert scripts["b.fountain"].cost_usd == pytest.approx(0.25) and scripts["b.fountain"].requests == 2
    assert ledger.totals(model="openai/gpt-4o-mini").requests == 1


def test_cached_answers_cost_nothing_and_use_no_tokens(ledger):
    ledger.record(record(NOW, input_tokens=300, output_tokens=30, cost_usd=0.03))
    ledger.record(record(NOW, input_tokens=300, output_tokens=30, cost_usd=0.0, outcome="cached"))
    totals = ledger.today(NOW)
    assert (totals.requests, totals.cached_requests, totals.total_tokens) == (2, 1, 330)
    assert totals.cost_usd == pytest.approx(0.03)
    assert "1 cached" in totals.describe()


def test_export_csv_writes_every_row(ledger, tmp_path):
    rows = [record(NOW - timedelta(minutes=i), input_tokens=i, cost_usd=None if i == 2 else i / 100) for i in range(5)]
    ledger.record_many(rows)
    target = tmp_path / "export" / "usage.csv"
    target.parent.mkdir()
    assert ledger.export_csv(target) == len(rows)
    with open(target, newline="", encoding="utf-8") as handle:
        data = list(csv.DictReader(handle))
    assert list(data[0].keys()) == list(COLUMNS)
    by_tokens = {int(r["input_tokens"]): r for r in data}
    assert by_tokens[2]["cost_usd"] == ""
    assert float(by_tokens[3]["cost_usd"]) == pytest.approx(0.03)
    assert by_tokens[4]["time_utc"] == (NOW - timedelta(minutes=4)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert [int(r["input_tokens"]) for r in data] == [4, 3, 2, 1, 0]  # oldest first
    assert not target.with_name("usage.csv.part").exists()


def test_two_threads_with_their_own_connections_write_at_once(tmp_path):
    path = tmp_path / "usage.sqlite3"
    ledgers = [UsageLedger(path), UsageLedger(path)]
    start = threading.Barrier(2)
    errors = []

    def write(ledger, name):
        start.wait()
        try:
            for i in range(100):
                ledger.record(record(NOW, model=name, input_tokens=i))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(led, f"m{n}")) for n, led in enumerate(ledgers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert {m: t.requests for m, t in ledgers[0].by_model()} == {"m0": 100, "m1": 100}
    assert ledgers[1].totals().input_tokens == 2 * sum(range(100))


def test_one_ledger_shared_by_two_threads(ledger):
    start = threading.Barrier(2)

    def write():
        start.wait()
        for _ in range(100):
            ledger.record(record(NOW))

    threads = [threading.Thread(target=write) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert ledger.totals().requests == 200


def test_a_writer_waits_for_another_connections_transaction(ledger):
    """Another connection (another job, another Blender) holds the write lock; record() waits for it
    instead of failing, and its row lands after the other transaction's."""
    holder = sqlite3.connect(ledger.path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute(
        "INSERT INTO requests (time_utc, model, outcome) VALUES (?, ?, ?)",
        ("2025-03-12T09:00:00.000000Z", "first", "x"),
    )
    release = threading.Timer(0.5, lambda: holder.execute("COMMIT"))
    release.start()
    try:
        ledger.record(record(NOW, model="second"))
    finally:
        release.join()
        holder.close()
    with sqlite3.connect(ledger.path) as conn:
        assert [r[0] for r in conn.execute("SELECT model FROM requests ORDER BY id")] == ["first", "second"]


def test_a_lock_held_past_the_busy_timeout_is_a_readable_error(tmp_path):
    path = tmp_path / "usage.sqlite3"
    ledger = UsageLedger(path, busy_timeout=0.2)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(LedgerError, match="cannot be written"):
            ledger.record(record(NOW))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    ledger.record(record(NOW))
    assert ledger.totals().requests == 1


WRITER = textwrap.dedent(
    """
    import sys, time
    from datetime import datetime, timezone
    from screenwriter_llm.core.accounting.usage import UsageLedger, UsageRecord

    path, name, count, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    ledger = UsageLedger(path)

    def rows():
        for i in range(count):
            yield UsageRecord(model=name, outcome="finished", input_tokens=i, time=datetime.now(timezone.utc))
        if mode == "hang":
            print("inside the transaction", flush=True)
            time.sleep(60)

    if mode == "each":
        print("ready", flush=True)
        sys.stdin.readline()
        for row in rows():
            ledger.record(row)
    else:
        ledger.record_many(rows())
    """
)


def spawn(path: Path, name: str, count: int, mode: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), name, str(count), mode],
        cwd=REPO,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def test_two_processes_write_at_once(ledger):
    writers = [spawn(ledger.path, f"proc{n}", 80, "each") for n in range(2)]
    for w in writers:
        assert w.stdout.readline().strip() == "ready"
    for w in writers:  # both start writing together
        w.stdin.write("go\n")
        w.stdin.flush()
    for w in writers:
        assert w.wait(60) == 0
    assert {m: t.requests for m, t in ledger.by_model()} == {"proc0": 80, "proc1": 80}


def test_a_process_killed_mid_transaction_leaves_no_partial_rows(ledger):
    ledger.record(record(NOW, model="before the crash"))
    writer = spawn(ledger.path, "crashed", 25, "hang")
    try:
        assert writer.stdout.readline().strip() == "inside the transaction"
    finally:
        writer.kill()  # SIGKILL on POSIX: no cleanup, no rollback by the process itself
        writer.wait(10)
    assert [m for m, _ in ledger.by_model()] == ["before the crash"]
    with sqlite3.connect(ledger.path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    ledger.record(record(NOW, model="after the crash"))
    assert count_rows(ledger.path) == 2


def test_an_exception_inside_a_transaction_writes_nothing(ledger):
    def rows():
        yield record(NOW)
        yield record(NOW)
        raise RuntimeError("the job broke while recording")

    with pytest.raises(RuntimeError, match="the job broke"):
        ledger.record_many(rows())
    assert ledger.totals().requests == 0
    assert ledger.record_many([record(NOW), record(NOW)]) == 2
    assert ledger.totals().requests == 2


def test_period_bounds_default_to_the_systems_local_now():
    before = datetime.now().astimezone()
    start, end = period_bounds("day")
    after = datetime.now().astimezone()
    assert start.utcoffset() == before.utcoffset() or start.utcoffset() == after.utcoffset()  # the OS's zone
    assert start <= before and after < end
    assert (start.hour, start.minute, start.second, start.microsecond) == (0, 0, 0, 0)
    assert start.date() == before.date() and end.date() == start.date() + timedelta(days=1)


def test_totals_describe_every_kind_of_request(ledger):
    ledger.record(record(NOW, cost_usd=0.02, estimated=True))
    ledger.record(record(NOW, cost_usd=None))
    ledger.record(record(NOW, outcome="cached", cost_usd=0.0))

    totals = ledger.totals(NOW - timedelta(hours=1), NOW + timedelta(hours=1))

    assert totals.describe() == "3 requests, 220 tokens, $0.02 (+1 with unknown cost, 1 estimated, 1 cached)"
    assert ledger.totals(NOW + timedelta(hours=1), NOW + timedelta(hours=2)).describe() == "0 requests, 0 tokens, $0.00"


def test_a_ledger_whose_file_became_a_folder_cannot_be_opened_for_writing(ledger):
    ledger.path.unlink()
    ledger.path.mkdir()
    with pytest.raises(LedgerError, match="cannot be opened"):
        ledger.record(record(NOW))


def test_a_ledger_whose_file_was_overwritten_is_a_readable_error(ledger):
    ledger.record(record(NOW))
    for suffix in ("-wal", "-shm"):
        Path(f"{ledger.path}{suffix}").unlink(missing_ok=True)
    ledger.path.write_bytes(b"not a database at all, " * 200)
    with pytest.raises(LedgerError, match="cannot be read: file is not a database"):
        ledger.schema_version()
    with pytest.raises(LedgerError, match="cannot be opened: file is not a database"):
        ledger.record(record(NOW))


def test_a_failed_migration_leaves_the_file_as_it_was(tmp_path):
    path = tmp_path / "usage.sqlite3"
    with sqlite3.connect(path) as conn:  # someone else's table under our name, and no schema_version
        conn.execute("CREATE TABLE requests (other TEXT)")
    with pytest.raises(LedgerError, match="cannot be opened"):
        UsageLedger(path)
    with sqlite3.connect(path) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        columns = [row[1] for row in conn.execute("PRAGMA table_info(requests)")]
    assert tables == {"requests"}  # the CREATE TABLE schema_version was rolled back too
    assert columns == ["other"]
