"""The provider call in a helper process, measured both ways (issue 10, part 2: "run the provider call in a helper
process that the add-on starts and keeps warm ... keep it only if the figures say so, and report both ways").

A prototype of the transport, in the bench only; the add-on is not changed. It swaps exactly one thing: the job's
provider call (``Job(stream_fn=...)``, by default ``core.provider.llm.stream_completion``) becomes a call into a
child Python process started when the add-on is enabled, which imports LiteLLM at once (kept warm) and runs the
add-on's own ``stream_completion`` there, sending each event back pickled over a pipe. Everything else is the
add-on as users run it (``commands.analyze_scene``, ``commands.start``, the pump, the sink, the status line). The
pricing and token counting that import LiteLLM (``core.accounting.cost``: ``cost_of_answer``, ``count_tokens``,
``lookup_model``, ``context_window``, ``estimate_request``) are called in the child too, over the same pipe, so
Blender's process never imports LiteLLM (checked: ``litellm_in_blender``).

Each variant runs in a fresh process (``--variant in-process|helper OUT API_BASE``) against the same loopback
provider (``bench_common.Server``) and the same replies: the cold first request right after enabling (10,000
tokens at 550 tokens/s, the main loop imitated by a 5 ms sleep loop that calls ``pump._timer`` on its interval,
as ``bench.py --fresh`` does), then 12 warm 20-token answers for the time to first token, then a second
10,000-token answer for the tick and the memory. Figures: the main loop's gaps during the cold request, Blender's
RSS growth (the process's own; the child's is reported beside it), the time to first token (``commands`` to the
first characters in the Text) and the pump tick.

    .venv/bin/python scripts/bench_helper.py        # about 2 minutes; also part of scripts/bench.py's full run
"""

from __future__ import annotations

import gc
import json
import math
import os
import pickle
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench_common import Row, Server, answer_text, print_table, summary

REPO = Path(__file__).resolve().parents[1]
MB = 1024 * 1024
ROUNDS = 12
#: The functions of ``core.accounting.cost`` that import LiteLLM, run in the child in the helper variant.
PROXIED = ("cost_of_answer", "count_tokens", "lookup_model", "context_window", "estimate_request")


def rss_bytes(pid: int | str = "self") -> int:
    """Resident set size of a process now, from ``/proc/<pid>/statm`` (Linux)."""
    with open(f"/proc/{pid}/statm", encoding="ascii") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# --- the child ------------------------------------------------------------------------------------------------


def child() -> int:
    """``--child``: import LiteLLM at once (warm), then serve requests from stdin until it closes: ``("stream",
    request)`` answers ``("event", e)`` per event then ``("end", None)``; ``("call", name, args)`` answers
    ``("result", value)``; a failure ``("error", "Type: message")``."""
    sys.path.insert(0, str(REPO))
    from screenwriter_llm.core.accounting import cost
    from screenwriter_llm.core.provider import llm

    inp, out = sys.stdin.buffer, sys.stdout.buffer
    started = time.perf_counter()
    llm.import_litellm()
    pickle.dump(("ready", round(time.perf_counter() - started, 3)), out)
    out.flush()
    while True:
        try:
            message = pickle.load(inp)
        except EOFError:
            return 0
        try:
            if message[0] == "stream":
                for event in llm.stream_completion(message[1], threading.Event()):
                    pickle.dump(("event", event), out)
                    out.flush()
                pickle.dump(("end", rss_bytes()), out)
            else:
                _, name, args = message
                pickle.dump(("result", getattr(cost, name)(*args)), out)
        except Exception as exc:  # noqa: BLE001 - a prototype: the parent raises it
            pickle.dump(("error", f"{type(exc).__name__}: {exc}"), out)
        out.flush()


class Helper:
    """The parent's side: the child process, one request at a time (a lock)."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--child"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        self._lock = threading.Lock()
        self._ready: float | None = None
        self.child_rss: list[int] = []

    def _receive(self) -> tuple[Any, ...]:
        assert self.process.stdout is not None
        if self._ready is None:
            kind, self._ready = pickle.load(self.process.stdout)  # waits for the child's import, once
        return pickle.load(self.process.stdout)  # type: ignore[no-any-return]

    def _send(self, message: tuple[Any, ...]) -> None:
        assert self.process.stdin is not None
        pickle.dump(message, self.process.stdin)
        self.process.stdin.flush()

    def stream(self, request: Any, cancelled: threading.Event, on_response: Any = None) -> Any:
        """A ``StreamFn``: the events of ``stream_completion`` run in the child."""
        with self._lock:
            self._send(("stream", request))
            while True:
                kind, value = self._receive()
                if kind == "event":
                    if not cancelled.is_set():
                        yield value
                elif kind == "end":
                    self.child_rss.append(value)
                    return
                else:
                    raise RuntimeError(value)

    def call(self, name: str, *args: Any) -> Any:
        """``core.accounting.cost.<name>(*args)`` run in the child."""
        with self._lock:
            self._send(("call", name, args))
            kind, value = self._receive()
        if kind != "result":
            raise RuntimeError(value)
        return value

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(10)


# --- one variant, in a fresh process -------------------------------------------------------------------------------


def variant(name: str, out: Path, api_base: str) -> int:
    """``--variant NAME OUT API_BASE``: the add-on enabled in ``bpy`` (as ``bench.Blender``), then the cold first
    request, the warm rounds and the second long answer; JSON to ``out``."""
    import bench

    blender = bench.Blender(api_base)
    helper = None
    if name == "helper":
        from screenwriter_llm.core.accounting import cost
        from screenwriter_llm.core.jobs import job as job_module

        helper = Helper()  # started with the add-on, importing LiteLLM in the child at once
        job_module.Job.__init__.__defaults__ = (helper.stream,)
        for function in PROXIED:
            setattr(cost, function, lambda *args, _name=function: helper.call(_name, *args))
    idle = bench._main_loop(0.6, None, lambda: False)
    gc.collect()
    rss0 = rss_bytes()
    job = blender.new_job(stamped=False)
    blender.start(job)
    cold = bench._main_loop(None, blender.pump._timer, lambda: blender.done(job))
    cold_ttft = job.time_to_first_token
    cold_chars = len(blender.text(job).as_string())
    blender.forget(job)
    gc.collect()
    rss1 = rss_bytes()

    ttft_ms: list[float] = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        job = blender.new_job()
        blender.start(job)
        while blender.written(job) == 0 and job.outcome is None:
            job.wait_for_event(0.05)
            blender.pump.pump_job(job)
        ttft_ms.append((time.perf_counter() - started) * 1000.0)
        blender.run_headless(job)
        blender.forget(job)

    gc.collect()
    rss2 = peak = rss_bytes()
    job = blender.new_job(stamped=False)
    blender.start(job)

    def tick() -> Any:
        nonlocal peak
        result = blender.pump._timer()
        peak = max(peak, rss_bytes())
        return result

    second = bench._main_loop(None, tick, lambda: blender.done(job))
    outcome = type(job.outcome).__name__
    blender.forget(job)
    gc.collect()
    rss3 = rss_bytes()
    result = {
        "variant": name,
        "idle_gaps_ms": summary(idle["gaps"]),
        "cold_gaps_ms": summary(cold["gaps"]),
        "cold_gaps_over_50ms": sum(1 for g in cold["gaps"] if g > 50.0),
        "cold_ttft_s": round(cold_ttft or math.nan, 3),
        "cold_chars": cold_chars,
        "ttft_warm_ms": summary(ttft_ms, 2),
        "tick_ms": summary(second["calls"]),
        "second_outcome": outcome,
        "rss_before_first_mb": round(rss0 / MB, 1),
        "rss_growth_first_request_mb": round((rss1 - rss0) / MB, 1),
        "rss_growth_second_10k_peak_mb": round((peak - rss2) / MB, 1),
        "rss_growth_second_10k_after_mb": round((rss3 - rss2) / MB, 1),
        "litellm_in_blender": any(m == "litellm" or m.startswith("litellm.") for m in sys.modules),
    }
    if helper is not None:
        result["child_rss_mb"] = round(max(helper.child_rss) / MB, 1) if helper.child_rss else math.nan
        result["child_import_s"] = helper._ready
        helper.close()
    out.write_text(json.dumps(result), encoding="utf-8")
    return 0


# --- both ways, side by side ---------------------------------------------------------------------------------------


def measure(server: Server, workdir: Path) -> tuple[dict[str, Any], list[Row]]:
    """Run both variants in fresh processes against ``server``; the figures and the table rows."""
    results: dict[str, Any] = {}
    for name in ("in-process", "helper"):
        server.enqueue(text=answer_text(10_000), tokens_per_second=550.0)
        for _ in range(ROUNDS):
            server.enqueue(tokens=20)
        server.enqueue(text=answer_text(10_000), tokens_per_second=550.0)
        out = workdir / f"helper-{name}.json"
        subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--variant", name, str(out), server.api_base],
            check=True,
            timeout=300,
            stdout=subprocess.DEVNULL,
        )
        results[name] = json.loads(out.read_text(encoding="utf-8"))
    a, b = results["helper"], results["in-process"]

    def gaps(r: dict[str, Any]) -> str:
        g = r["cold_gaps_ms"]
        return f"max {g['max']:.1f} ms, p99 {g['p99']:.1f} ms, {r['cold_gaps_over_50ms']} over 50 ms"

    rows = [
        Row(
            "Helper process: main-loop gaps during the cold first request (bpy as a module)",
            gaps(a) + f" (the child imported LiteLLM in {a.get('child_import_s')} s)",
            "in process: " + gaps(b),
            "informational (window target: max <= 50 ms)",
            None,
        ),
        Row(
            "Helper process: Blender's RSS growth, the first request / a second 10k-token answer (peak)",
            f"+{a['rss_growth_first_request_mb']} MB / +{a['rss_growth_second_10k_peak_mb']} MB; LiteLLM in "
            f"Blender: {'yes' if a['litellm_in_blender'] else 'no'}; the child's RSS {a.get('child_rss_mb')} MB",
            f"in process: +{b['rss_growth_first_request_mb']} MB / +{b['rss_growth_second_10k_peak_mb']} MB",
            "<= 20 MB per 10k-token answer",
            a["rss_growth_second_10k_peak_mb"] <= 20.0,
        ),
        Row(
            f"Helper process: time to first token, warm ({ROUNDS} rounds, commands to the Text)",
            f"median {a['ttft_warm_ms']['median']:.2f} ms (p75 {a['ttft_warm_ms']['p75']:.2f})",
            f"in process: median {b['ttft_warm_ms']['median']:.2f} ms (p75 {b['ttft_warm_ms']['p75']:.2f})",
            "informational",
            None,
        ),
        Row(
            "Helper process: pump tick, second 10k-token answer at 550 tok/s",
            f"median {a['tick_ms']['median']:.3f} ms, p99 {a['tick_ms']['p99']:.2f} ms ({a['second_outcome']})",
            f"in process: median {b['tick_ms']['median']:.3f} ms, p99 {b['tick_ms']['p99']:.2f} ms",
            "informational",
            None,
        ),
    ]
    return results, rows


def main(argv: list[str]) -> int:
    if argv[:1] == ["--child"]:
        return child()
    if argv[:1] == ["--variant"]:
        return variant(argv[1], Path(argv[2]), argv[3])
    workdir = Path(tempfile.mkdtemp(prefix="screenwriter-helper-"))
    server = Server(workdir)
    try:
        results, rows = measure(server, workdir)
    finally:
        server.stop()
    print(json.dumps(results, indent=1))
    print_table(rows)
    path = REPO / "bench" / "helper.json"
    path.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(f"figures: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
