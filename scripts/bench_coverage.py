#!/usr/bin/env python3
"""Whole-script coverage benchmark: Big Fish (190 scenes) against a loopback server that answers each
request after a fixed 200 ms, serially (concurrency 1) and with 8 workers, in one run.

Target (issue 6): 8 workers finish in at most 1/6 of the serial time. Prints the figures and writes
``bench/coverage.json``. Run with ``.venv/bin/python scripts/bench_coverage.py`` (about a minute).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SCREENWRITER_SHARED") or REPO.parent / "shared")
sys.path.insert(0, str(REPO))


def main() -> int:
    """Run both configurations and print the table."""
    os.environ.setdefault("OPENAI_API_KEY", "sk-bench")
    import bpy

    print(f"Blender {bpy.app.version_string}: Big Fish coverage, serial vs 8 workers", flush=True)
    import addon_utils  # importable once bpy is (Blender's own modules)

    from tests.provider_server import ProviderServer, synthetic

    addon_utils.enable("screenwriter_llm", default_set=True, handle_error=None)
    script = (SHARED / "screenplays" / "Big-Fish.fountain").read_text(encoding="utf-8")
    results = {}
    with ProviderServer() as server:
        server.set_default("openai", synthetic(text="A note on the scene.", first_byte_delay=0.2))
        bpy.context.scene.screenwriter.model = "openai/gpt-4o-mini"
        bpy.context.preferences.addons["screenwriter_llm"].preferences.api_base = server.api_base("openai")
        for concurrency in (1, 8):
            bpy.ops.wm.read_homefile(use_empty=True)
            addon_utils.enable("screenwriter_llm", default_set=True, handle_error=None)
            bpy.context.scene.screenwriter.model = "openai/gpt-4o-mini"
            bpy.context.preferences.addons["screenwriter_llm"].preferences.api_base = server.api_base("openai")
            text = bpy.data.texts.new("Big-Fish.fountain")
            text.from_string(script.replace("\r\n", "\n"))
            before = len(server.requests())
            started = time.perf_counter()
            bpy.ops.screenwriter.analyze_all_scenes(text=text.name, concurrency=concurrency, force=True)
            elapsed = time.perf_counter() - started
            report = bpy.data.texts["Big-Fish - Coverage"].as_string()
            complete = "Scenes analysed: 190 of 190" in report
            results[concurrency] = {
                "seconds": round(elapsed, 2),
                "requests": len(server.requests()) - before,
                "complete": complete,
            }
            print(
                f"concurrency {concurrency}: {elapsed:6.2f} s, {results[concurrency]['requests']} requests, "
                f"report complete: {complete}",
                flush=True,
            )
    ratio = results[8]["seconds"] / results[1]["seconds"]
    verdict = "PASS" if ratio <= 1 / 6 and all(r["complete"] for r in results.values()) else "MISS"
    print(f"\n8 workers / serial = {ratio:.3f} (target <= {1 / 6:.3f}): {verdict}")
    out = REPO / "bench" / "coverage.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps({"big_fish_190_scenes_200ms": results, "ratio": round(ratio, 4), "verdict": verdict}, indent=2)
        + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
