"""What scripts/bench.py and scripts/bench_window.py share: small statistics, the synthetic answer, the provider
server out of process (with chunk send times) and its client, and the results table.

bench.py imports bench_window (for the window figures) and both import this module, which imports neither: the
scripts have no import cycle (tests/unit/test_architecture.py checks). ``python scripts/bench_common.py READY`` runs
the provider server, as :class:`Server` starts it (``scripts/bench.py --serve READY`` does the same).
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
#: Per-request JSON route added by ``--serve``: the server's record of one request plus chunk send times.
CHUNKS_ROUTE = "/__bench_chunks__"
#: Tokens per line of the synthetic answers (as tests/gui/test_window.py), so Texts have many lines.
TOKENS_PER_LINE = 10


# ----------------------------------------------------------------------------------------------------------------
# Small statistics
# ----------------------------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values`` with linear interpolation (numpy's default); nan if empty."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    k = (len(ordered) - 1) * q / 100.0
    low = math.floor(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def summary(values: Sequence[float], digits: int = 3) -> dict[str, Any]:
    """Median, quartiles, p95, p99, min, max and count of ``values`` (rounded to ``digits``)."""
    if not values:
        return {"n": 0}
    keys = {"median": 50, "p25": 25, "p75": 75, "p95": 95, "p99": 99}
    out: dict[str, Any] = {k: round(percentile(values, q), digits) for k, q in keys.items()}
    out.update(min=round(min(values), digits), max=round(max(values), digits), n=len(values))
    return out


def answer_text(tokens: int) -> str:
    """The synthetic answer: ``tok0 tok1 ...`` in lines of :data:`TOKENS_PER_LINE` tokens."""
    return "\n".join(
        " ".join(f"tok{i}" for i in range(line, min(line + TOKENS_PER_LINE, tokens)))
        for line in range(0, tokens, TOKENS_PER_LINE)
    )


# ----------------------------------------------------------------------------------------------------------------
# The provider server, out of process, with chunk send times
# ----------------------------------------------------------------------------------------------------------------


def serve(ready: Path) -> int:
    """Run tests/provider_server.py's ProviderServer until SIGTERM, stamping every SSE chunk; URL to ``ready``.

    Adds ``GET /__bench_chunks__?index=i``: request ``i`` (Python index into the records, -1 = last) as
    JSON, without its body, plus ``sent``: ``time.monotonic()`` after each chunk was written.
    """
    sys.path.insert(0, str(REPO))
    from tests import provider_server as ps

    write_chunk = ps._Handler._write_chunk
    dispatch = ps._Handler._dispatch
    wait = ps._Handler._wait

    def scheduled_wait(self: Any, seconds: float | None, record: Any) -> None:
        # tests/provider_server.py sleeps the pacing interval after each write, so every chunk's own cost
        # (0.2-0.4 ms here) is added and 5,000 tok/s comes out near 2,500. Sleep until the chunk's slot on
        # a fixed schedule instead (the bench uses no other delays), as a provider generating at that rate.
        if seconds is None or seconds <= 0:
            wait(self, seconds, record)
            return
        now = time.monotonic()
        due = record.__dict__.get("bench_due", now) + seconds
        record.__dict__["bench_due"] = due
        wait(self, due - now, record)

    def stamped_write_chunk(self: Any, record: Any, data: bytes) -> None:
        write_chunk(self, record, data)
        record.__dict__.setdefault("bench_sent", []).append(time.monotonic())

    def bench_dispatch(self: Any) -> None:
        if not self.path.startswith(CHUNKS_ROUTE):
            dispatch(self)
            return
        index = int(self.path.partition("index=")[2] or -1)
        records = self.server.owner.requests()
        if not records:
            self._send_json(404, {"error": "no requests yet"})
            return
        record = records[index]
        data = {k: v for k, v in record.to_json().items() if k not in ("body", "headers")}
        data["sent"] = list(record.__dict__.get("bench_sent", []))
        self._send_json(200, data)

    ps._Handler._write_chunk = stamped_write_chunk
    ps._Handler._wait = scheduled_wait
    ps._Handler._dispatch = bench_dispatch
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with ps.ProviderServer({"openai": ps.synthetic(tokens=20)}) as server:
        tmp = ready.with_name(ready.name + ".tmp")
        tmp.write_text(json.dumps({"base_url": server.base_url, "pid": os.getpid()}))
        os.replace(tmp, ready)
        while not stop.wait(0.2):
            pass
    return 0


class Server:
    """Client side of ``--serve``: start/stop the process, queue replies, read request records."""

    def __init__(self, workdir: Path) -> None:
        ready = workdir / "server-ready.json"
        ready.unlink(missing_ok=True)
        self.log = (workdir / "server.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), str(ready)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 20
        while not ready.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the provider server did not start; see {workdir / 'server.log'}")
            time.sleep(0.02)
        self.base_url: str = json.loads(ready.read_text())["base_url"]

    @property
    def api_base(self) -> str:
        """The OpenAI-compatible base URL (``.../v1``)."""
        return self.base_url + "/v1"

    def _call(self, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path, data=data, method="POST" if data else "GET")
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def enqueue(self, **reply: Any) -> None:
        """Answer the next OpenAI request with a Reply (tests/provider_server.py field names)."""
        self._call("/__enqueue__", {"provider": "openai", "replies": [reply]})

    def record(self, index: int = -1) -> dict[str, Any]:
        """Request ``index`` (-1: the last) as the server saw it, with ``sent`` chunk times."""
        return self._call(f"{CHUNKS_ROUTE}?index={index}")

    def closed_record(self, timeout: float = 1.0) -> dict[str, Any]:
        """The last request's record once the server has seen the client close it (or after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            record = self.record()
            if record.get("client_closed_at") or record.get("completed_at") or time.monotonic() > deadline:
                return record
            time.sleep(0.005)

    def stop(self) -> None:
        """Stop the server process (SIGTERM, then SIGKILL)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.log.close()


# ----------------------------------------------------------------------------------------------------------------
# The results table
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the table."""

    figure: str
    measured: str
    baseline: str
    target: str
    ok: bool | None  # None: informational, no target

    @property
    def verdict(self) -> str:
        """PASS, MISS or '' for an informational row."""
        return "" if self.ok is None else ("PASS" if self.ok else "MISS")


def print_table(rows: list[Row]) -> None:
    """Print the rows as an aligned text table."""
    headers = ("Figure", "Measured", "Baseline (same run)", "Target", "")
    cells = [headers] + [(r.figure, r.measured, r.baseline, r.target, r.verdict) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(headers))]
    line = "+".join("-" * (w + 2) for w in widths)
    for index, cell in enumerate(cells):
        print(" | ".join(c.ljust(w) for c, w in zip(cell, widths, strict=True)).rstrip())
        if index == 0:
            print(line)


if __name__ == "__main__":
    sys.exit(serve(Path(sys.argv[1])))
