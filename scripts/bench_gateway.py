"""Studio mode: what the team's LiteLLM Proxy (the gateway) adds when 8 artists analyse whole scripts at once.

One provider server (tests/provider_server.py, out of process) streams a synthetic answer paced like a real model;
one gateway (tests/gateway_server.py: the real LiteLLM Proxy 1.106.2 from .venv-proxy) routes the alias
``studio-writer`` to it. Then 8 artists each run a whole script (one streamed request per scene, 2 scenes at a time:
the add-on's Analyze All Scenes makes such a sequence, 4 at a time by default; 2 keeps 8 artists' clients within what
this 2-core machine can run beside the proxy) with LiteLLM's own client, the add-on's: through the gateway
(``litellm_proxy/studio-writer``, the master key, ``user=artistN``, ``x-litellm-tags: screenwriter,analyze_scene``)
and direct (``openai/gpt-4.1`` at the provider), in the same run, in the phases direct, proxy, proxy, direct (so a
drift in the machine's speed falls on both equally).

Per request: time to first token (TTFT: the call until the first content delta), total time, and the forward delay
(the call until the provider received the request, from the provider's own record; the clocks are the same
``time.monotonic()``, system-wide on Linux). The gateway's added latency is compared as distributions (p50/p95 of
proxied minus p50/p95 of direct) and read from the proxy's ``x-litellm-overhead-duration-ms`` response header.
Throughput: requests/s and completion tokens/s over each phase's wall time. Also the proxy's CPU time per request.

Why 8 processes, not 8 threads or the add-on: each artist has their own Blender, so their own process, their own
LiteLLM client and their own GIL. The add-on in one bpy process has one main thread and one job runner; 8 artists
inside it would measure the add-on's runner and one GIL, not a studio. The add-on's requests are these same
``litellm.completion(stream=True)`` calls made from worker threads (screenwriter_llm/core/provider/llm.py), so plain
LiteLLM in 8 processes, 2 threads each, is the honest model of 8 artists. The cost: every process is on this
machine, with the proxy and the provider, so on a 2-core box the clients' own CPU shows in both modes.

    .venv/bin/python scripts/bench_gateway.py [--artists 8] [--scenes 6] [--concurrency 2] [--tokens 200]
        [--tokens-per-second 50]

prints a table and writes bench/gateway.json. Figures only: nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import summary  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "gateway.json"
ALIAS = "studio-writer"
DIRECT_MODEL = "openai/gpt-4.1"
TAGS = "screenwriter,analyze_scene"
PHASES = ("direct", "proxy", "proxy", "direct")
#: A scene's worth of prompt (about 300 words), as the add-on sends one scene of a screenplay.
SCENE = (
    "INT. NIGHT FERRY - CAR DECK - NIGHT\n\nRain hammers the steel. MARA (40s) checks the van's tyres, "
    "one by one, as if counting. JONAH (20s) watches from the stairwell.\n\n"
) + " ".join(
    f"Mara circles the van again, line {i}, and Jonah says nothing while the engines drone." for i in range(20)
)


# ----------------------------------------------------------------------------------------------------------------
# One artist (a child process)
# ----------------------------------------------------------------------------------------------------------------


def _one_request(litellm: Any, spec: dict[str, Any], mode: str, scene: int, tag: str) -> dict[str, Any]:
    artist = spec["artist"]
    request_id = f"{tag}-a{artist}-s{scene}"
    messages = [
        {"role": "system", "content": "You are a script consultant. Analyse the scene's craft."},
        {"role": "user", "content": f"[bench-id: {request_id}]\n<scene>\n{SCENE}\n</scene>"},
    ]
    if mode == "proxy":
        target = {"model": f"litellm_proxy/{ALIAS}", "api_base": spec["gateway"], "api_key": spec["key"]}
    else:
        target = {"model": DIRECT_MODEL, "api_base": spec["provider"] + "/v1", "api_key": "sk-upstream-test"}
    began = time.monotonic()
    first = None
    pieces = 0
    usage = None
    stream = litellm.completion(
        messages=messages,
        stream=True,
        stream_options={"include_usage": True},
        user=f"artist{artist}",
        extra_headers={"x-litellm-tags": TAGS},
        max_tokens=1024,
        temperature=0.7,
        **target,
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            pieces += 1
            if first is None:
                first = time.monotonic()
        if getattr(chunk, "usage", None):
            usage = chunk.usage
    ended = time.monotonic()
    headers = (getattr(stream, "_hidden_params", None) or {}).get("additional_headers") or {}
    overhead = headers.get("llm_provider-x-litellm-overhead-duration-ms") or headers.get(
        "x-litellm-overhead-duration-ms"
    )
    return {
        "id": request_id,
        "mode": mode,
        "artist": artist,
        "began": began,
        "ttft": (first - began) if first is not None else None,
        "total": ended - began,
        "ended": ended,
        "pieces": pieces,
        "completion_tokens": usage.completion_tokens if usage else pieces,
        "overhead_ms": float(overhead) if overhead is not None else None,
    }


def artist_main(spec: dict[str, Any]) -> int:
    """A child process: import LiteLLM, warm up both routes, then run one whole script per "go" line on stdin."""
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    import litellm

    litellm.telemetry = False
    for mode in ("direct", "proxy"):  # connection pools, LiteLLM's first-call set-up: not measured
        _one_request(litellm, spec, mode, scene=-1, tag="warmup")
    print("ready", flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] != "go":
            break
        mode, tag = words[1], words[2]
        with ThreadPoolExecutor(spec["concurrency"]) as pool:
            futures = [pool.submit(_one_request, litellm, spec, mode, scene, tag) for scene in range(spec["scenes"])]
            results = [f.result() for f in futures]
        print(json.dumps(results), flush=True)
    return 0


# ----------------------------------------------------------------------------------------------------------------
# The orchestration
# ----------------------------------------------------------------------------------------------------------------


def _start_provider(workdir: Path, tokens: int, rate: float) -> tuple[subprocess.Popen[bytes], str]:
    from tests.provider_server import spawn

    return spawn(workdir, "--synthetic-tokens", str(tokens), "--tokens-per-second", str(rate))


def _stop(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its children (from /proc; 0 where unavailable)."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    pids = [pid]
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            pids += [int(c) for c in (task / "children").read_text().split()]
    except OSError:
        pass
    for one in pids:
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
        except (OSError, IndexError, ValueError):
            pass
    return total


def _provider_received(provider: str) -> dict[str, float]:
    """bench-id -> the provider's receive time (time.monotonic) of that request."""
    with urllib.request.urlopen(provider + "/__records__", timeout=30) as response:
        records = json.loads(response.read())
    received = {}
    for record in records:
        body = record.get("body") or {}
        for message in body.get("messages") or []:
            content = message.get("content")
            if isinstance(content, str) and content.startswith("[bench-id: "):
                received[content[len("[bench-id: ") : content.index("]")]] = record["received_at"]
    return received


def _ms(values: list[float]) -> dict[str, Any]:
    return summary([v * 1000 for v in values], digits=1)


def measure_gateway(
    artists: int = 8,
    scenes_per_artist: int = 6,
    concurrency: int = 2,
    tokens: int = 200,
    tokens_per_second: float = 50.0,
) -> dict[str, Any]:
    """Run the benchmark (module docstring) and return its figures as a JSON-able dict."""
    sys.path.insert(0, str(REPO))
    from tests.gateway_server import GatewayServer

    workdir = Path(tempfile.mkdtemp(prefix="screenwriter-bench-gateway-"))
    load_before = os.getloadavg()
    provider_process, provider = _start_provider(workdir, tokens, tokens_per_second)
    workers: list[subprocess.Popen[str]] = []
    try:
        with GatewayServer(provider) as gateway:
            proxy_pid = gateway.process.pid if gateway.process else 0
            spec = {
                "gateway": gateway.base_url,
                "key": gateway.master_key,
                "provider": provider,
                "scenes": scenes_per_artist,
                "concurrency": concurrency,
            }
            for artist in range(artists):
                workers.append(
                    subprocess.Popen(
                        [sys.executable, __file__, "--artist-spec", json.dumps({**spec, "artist": artist})],
                        stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE,
                        text=True,
                        env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
                    )
                )
            for worker in workers:
                assert worker.stdout is not None
                if worker.stdout.readline().strip() != "ready":
                    raise RuntimeError("an artist process did not get ready (see its stderr above)")
            phases: list[dict[str, Any]] = []
            for index, mode in enumerate(PHASES):
                cpu_before = _cpu_seconds(proxy_pid)
                for worker in workers:
                    assert worker.stdin is not None
                    worker.stdin.write(f"go {mode} p{index}\n")
                    worker.stdin.flush()
                results: list[dict[str, Any]] = []
                for worker in workers:
                    assert worker.stdout is not None
                    results += json.loads(worker.stdout.readline())
                phases.append({"mode": mode, "results": results, "proxy_cpu_s": _cpu_seconds(proxy_pid) - cpu_before})
            for worker in workers:
                assert worker.stdin is not None
                worker.stdin.close()
            attribution = gateway.attribution()
            startup = gateway.startup_seconds
        received = _provider_received(provider)
    finally:
        for worker in workers:
            _stop(worker)
        _stop(provider_process)
        shutil.rmtree(workdir, ignore_errors=True)
    figures = _figures(
        phases, received, attribution, startup, artists, scenes_per_artist, concurrency, tokens, tokens_per_second
    )
    # Other work on the machine shares its CPUs with the proxy and the clients: the 1-minute load before and after.
    figures["machine"]["loadavg_1min_before_after"] = [round(load_before[0], 2), round(os.getloadavg()[0], 2)]
    return figures


def _figures(
    phases: list[dict[str, Any]],
    received: dict[str, float],
    attribution: list[dict[str, Any]],
    startup: float | None,
    artists: int,
    scenes: int,
    concurrency: int,
    tokens: int,
    rate: float,
) -> dict[str, Any]:
    by_mode: dict[str, dict[str, Any]] = {}
    for mode in ("direct", "proxy"):
        runs = [p for p in phases if p["mode"] == mode]
        results = [r for p in runs for r in p["results"]]
        for r in results:
            r["forward"] = received[r["id"]] - r["began"] if r["id"] in received else None
        walls = [max(r["ended"] for r in p["results"]) - min(r["began"] for r in p["results"]) for p in runs]
        completion = sum(r["completion_tokens"] for r in results)
        by_mode[mode] = {
            "requests": len(results),
            "wall_s": round(sum(walls), 3),
            "requests_per_s": round(len(results) / sum(walls), 2),
            "tokens_per_s": round(completion / sum(walls), 1),
            "ttft_ms": _ms([r["ttft"] for r in results if r["ttft"] is not None]),
            "total_ms": _ms([r["total"] for r in results]),
            "forward_ms": _ms([r["forward"] for r in results if r["forward"] is not None]),
            "artist_script_s": summary(
                [
                    max(r["ended"] for r in p["results"] if r["artist"] == a)
                    - min(r["began"] for r in p["results"] if r["artist"] == a)
                    for p in runs
                    for a in range(artists)
                ]
            ),
            "incomplete": sum(1 for r in results if r["ttft"] is None),
        }
        if mode == "proxy":
            overheads = [r["overhead_ms"] for r in results if r["overhead_ms"] is not None]
            by_mode[mode]["header_overhead_ms"] = summary(overheads, digits=1)
            by_mode[mode]["proxy_cpu_s_per_request"] = round(sum(p["proxy_cpu_s"] for p in runs) / len(results), 4)
    direct, proxy = by_mode["direct"], by_mode["proxy"]
    added = {
        f"{what}_{q}_ms": round(proxy[f"{what}_ms"][q] - direct[f"{what}_ms"][q], 1)
        for what in ("ttft", "total", "forward")
        for q in ("median", "p95")
    }
    proxied_users = {r["end_user"] for r in attribution if r.get("model_group") == ALIAS}
    return {
        "what": "8 artists' whole-script runs through the LiteLLM Proxy vs direct (scripts/bench_gateway.py)",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "setup": {
            "artists": artists,
            "scenes_per_artist": scenes,
            "concurrency_per_artist": concurrency,
            "answer_tokens": tokens,
            "provider_tokens_per_second": rate,
            "phases": list(PHASES),
            "litellm": "1.106.2 (client: .venv; proxy: .venv-proxy)",
            "proxy_startup_s": round(startup, 2) if startup is not None else None,
        },
        "direct": direct,
        "proxy": proxy,
        "gateway_added": added,
        "attribution": {
            "records": len(attribution),
            "users": sorted(u for u in proxied_users if u),
            "tagged": sum(1 for r in attribution if r.get("request_tags", [])[:2] == TAGS.split(",")),
        },
        "p50_note": "median = p50; gateway_added = proxied percentile minus direct percentile (distributions, "
        "not pairs)",
    }


def print_table(figures: dict[str, Any]) -> None:
    """Print the figures as a small aligned table."""
    d, p, a = figures["direct"], figures["proxy"], figures["gateway_added"]
    rows = [
        ("", "direct", "through the gateway", "gateway adds"),
        ("requests", str(d["requests"]), str(p["requests"]), ""),
        ("TTFT p50 (ms)", f"{d['ttft_ms']['median']}", f"{p['ttft_ms']['median']}", f"{a['ttft_median_ms']:+}"),
        ("TTFT p95 (ms)", f"{d['ttft_ms']['p95']}", f"{p['ttft_ms']['p95']}", f"{a['ttft_p95_ms']:+}"),
        ("total p50 (ms)", f"{d['total_ms']['median']}", f"{p['total_ms']['median']}", f"{a['total_median_ms']:+}"),
        ("total p95 (ms)", f"{d['total_ms']['p95']}", f"{p['total_ms']['p95']}", f"{a['total_p95_ms']:+}"),
        (
            "to provider p50 (ms)",
            f"{d['forward_ms']['median']}",
            f"{p['forward_ms']['median']}",
            f"{a['forward_median_ms']:+}",
        ),
        ("to provider p95 (ms)", f"{d['forward_ms']['p95']}", f"{p['forward_ms']['p95']}", f"{a['forward_p95_ms']:+}"),
        ("requests/s", f"{d['requests_per_s']}", f"{p['requests_per_s']}", ""),
        ("tokens/s", f"{d['tokens_per_s']}", f"{p['tokens_per_s']}", ""),
        (
            "whole script p50 (s)",
            f"{d['artist_script_s']['median']}",
            f"{p['artist_script_s']['median']}",
            "",
        ),
    ]
    header = p.get("header_overhead_ms") or {}
    if header.get("n"):
        rows.append(("x-litellm-overhead p50/p95 (ms)", "", f"{header['median']} / {header['p95']}", ""))
    rows.append(("proxy CPU s / request", "", f"{p['proxy_cpu_s_per_request']}", ""))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for index, row in enumerate(rows):
        print(" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if index == 0:
            print("-+-".join("-" * w for w in widths))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--artists", type=int, default=8)
    parser.add_argument("--scenes", type=int, default=6, help="scenes per artist's script (one request each)")
    parser.add_argument("--concurrency", type=int, default=2, help="scenes in flight per artist")
    parser.add_argument("--tokens", type=int, default=200, help="answer length (synthetic tokens)")
    parser.add_argument("--tokens-per-second", type=float, default=50.0, help="the provider's pace per stream")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--artist-spec", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.artist_spec:
        return artist_main(json.loads(args.artist_spec))
    figures = measure_gateway(args.artists, args.scenes, args.concurrency, args.tokens, args.tokens_per_second)
    print_table(figures)
    print(
        f"attribution: {figures['attribution']['records']} records, users {', '.join(figures['attribution']['users'])}"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"wrote {args.out.relative_to(REPO) if args.out.is_relative_to(REPO) else args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
