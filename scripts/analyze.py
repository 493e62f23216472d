#!/usr/bin/env python3
"""Analyse a scene of a Fountain screenplay with real Blender, headless, streaming to the terminal.

Runs with Blender as a Python module (``.venv/bin/python scripts/analyze.py ...``, bpy from PyPI) or
inside a Blender binary (``blender -b --factory-startup --python scripts/analyze.py -- ...``). It loads
the screenplay into a Text datablock, runs ``bpy.ops.screenwriter.analyze_scene`` (which drives the
pump synchronously in background mode), echoes the answer as it streams, writes it to a file and, with
``--save-blend``, saves the .blend holding both Texts.

Which model: ``--model``; else ``OPENAI_API_KEY`` -> openai/gpt-4o-mini; else ``ANTHROPIC_API_KEY`` ->
anthropic/claude-haiku-4-5; else a local Ollama server (``OLLAMA_API_BASE`` or localhost:11434) with
its first model; else an offline demo on LiteLLM's mock response, clearly labelled.

Exit status: 0 when the analysis completed, 1 on an error, 130 when cancelled (Ctrl-C).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _argv() -> list[str]:
    # Inside a Blender binary the script's own arguments follow "--".
    return sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else sys.argv[1:]


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options; see ``--help``."""
    p = argparse.ArgumentParser(prog="analyze.py", description=__doc__.split("\n\n")[0])
    p.add_argument("screenplay", type=Path, help="a .fountain file")
    p.add_argument("--scene", type=int, default=1, help="scene number, from 1 (default 1)")
    p.add_argument("--model", help="LiteLLM model string, e.g. openai/gpt-4o-mini (default: see above)")
    p.add_argument("--api-base", default="", help="custom endpoint: local server or LiteLLM Proxy")
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--max-tokens", type=int, default=2048)
    p.add_argument("--no-stream", action="store_true", help="ask for the whole answer at once")
    p.add_argument("--out", type=Path, help="file to write the analysis to (default: next to the script name)")
    p.add_argument("--save-blend", type=Path, help="also save a .blend with the screenplay and analysis")
    p.add_argument(
        "--allow-online",
        action="store_true",
        help="turn on Blender's Allow Online Access for this run (needed for remote providers; "
        "Blender as a module starts with it off)",
    )
    p.add_argument("--offline-demo", action="store_true", help="use LiteLLM's mock response, no provider")
    p.add_argument("--all-scenes", action="store_true", help="analyse every scene and write a coverage report")
    p.add_argument("--concurrency", type=int, default=4, help="scenes analysed at once with --all-scenes (1-16)")
    p.add_argument(
        "--blend", type=Path, help="with --all-scenes: open/save this .blend so a re-run skips finished scenes"
    )
    p.add_argument("--force", action="store_true", help="with --all-scenes: analyse scenes already analysed too")
    return p.parse_args(argv)


def local_ollama_model(timeout: float = 0.5) -> str | None:
    """The first model a local Ollama server lists, as ``ollama_chat/<name>``, or None. Loopback only."""
    base = os.environ.get("OLLAMA_API_BASE", "http://localhost:11434").rstrip("/")
    sys.path.insert(0, str(REPO))
    from screenwriter_llm.core.provider.netgate import is_loopback_endpoint

    if not is_loopback_endpoint("ollama_chat/x", base):
        return None
    try:
        with urllib.request.urlopen(f"{base}/api/tags", timeout=timeout) as response:  # noqa: S310 - loopback
            models = json.load(response).get("models") or []
    except (OSError, ValueError):
        return None
    return f"ollama_chat/{models[0]['name']}" if models else None


def choose_model(args: argparse.Namespace) -> tuple[str, bool]:
    """``(model, offline_demo)`` from the options and the environment (see the module docstring)."""
    if args.offline_demo:
        return args.model or "openai/gpt-4o-mini", True
    if args.model:
        return args.model, False
    if os.environ.get("OPENAI_API_KEY"):
        return "openai/gpt-4o-mini", False
    if os.environ.get("ANTHROPIC_API_KEY"):
        return "anthropic/claude-haiku-4-5", False
    ollama = None if args.api_base else local_ollama_model()
    if ollama:
        return ollama, False
    return "openai/gpt-4o-mini", True


def progress_bar(done: int, total: int, status: str, width: int = 30) -> str:
    """A one-line terminal progress bar: ``[#########---------] 37/190 Coverage: ...``."""
    filled = int(width * done / total) if total else width
    return f"\r[{'#' * filled}{'-' * (width - filled)}] {status}\x1b[K"


def run_all_scenes(args: argparse.Namespace, text: object, mock: str) -> int:
    """Analyse every scene with ``--concurrency`` workers, show a progress bar on stderr, write the
    coverage report to ``--out`` (default ``<script>-coverage.txt``) and save ``--blend`` if given."""
    import bpy

    from screenwriter_llm import api, runtime

    tty = sys.stderr.isatty()
    last = [""]

    def show(job: object, batch: object) -> None:
        for run in runtime.get().runs:
            line = run.status_line()
            if line != last[0]:
                last[0] = line
                finished = len(run.done) + len(run.failed) + len(run.skipped)
                if tty:
                    sys.stderr.write(progress_bar(finished, run.total, line))
                else:
                    sys.stderr.write(line + "\n")
                sys.stderr.flush()

    runtime.get().listeners.append(show)
    try:
        report, summary = api.analyze_all_scenes(
            text.name,  # type: ignore[attr-defined]
            concurrency=max(1, min(16, args.concurrency)),
            force=args.force,
            mock_response=mock,
        )
    except api.CommandError as exc:  # refused before starting (no key, online access off...)
        print(f"\n{safe_for_terminal(str(exc).strip())}", file=sys.stderr)
        return 1
    finally:
        runtime.get().listeners.remove(show)
    status = str(summary["status"])
    print(f"\n{safe_for_terminal(status)}", file=sys.stderr)
    if report is not None:
        out = args.out or Path(f"{args.screenplay.stem}-coverage.txt")
        out.write_text(report.as_string(), encoding="utf-8")
        print(f"Coverage report written to {out}", file=sys.stderr)
        print(safe_for_terminal(report.as_string().strip().splitlines()[-1]), file=sys.stderr)
    if args.blend:
        bpy.ops.wm.save_as_mainfile(filepath=str(args.blend.resolve()))
        print(f"Saved {args.blend} (a re-run with --blend skips the finished scenes)", file=sys.stderr)
    return 0 if not summary["failed"] and not status.startswith("Error") else 1


def safe_for_terminal(text: str) -> str:
    """``text`` without terminal control sequences: an answer could carry escape sequences (an OSC 0 window
    title, an OSC 52 clipboard write) that a terminal would obey. Every C0/C1 control character but newline
    and tab is shown as its ``\\x..`` escape instead."""
    return "".join(
        ch if ch in "\n\t" or not (ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F) else f"\\x{ord(ch):02x}"
        for ch in text
    )


def main() -> int:
    """Run one analysis; see the module docstring."""
    args = parse_args(_argv())
    if not args.screenplay.is_file():
        print(f"analyze.py: no such screenplay file: {args.screenplay}", file=sys.stderr)
        return 2
    model, demo = choose_model(args)

    import bpy

    sys.path.insert(0, str(REPO))
    import screenwriter_llm
    from screenwriter_llm import api, compat
    from screenwriter_llm.core.screenplay import fountain
    from screenwriter_llm.core.tasks import demo as demo_answer

    screenwriter_llm.register()
    try:
        if args.allow_online:
            compat.set_online_access(True)
        if args.blend and args.blend.is_file():
            bpy.ops.wm.open_mainfile(filepath=str(args.blend.resolve()))
        content = fountain.normalize(args.screenplay.read_text(encoding="utf-8"))
        text = bpy.data.texts.get(args.screenplay.name) or bpy.data.texts.new(args.screenplay.name)
        if text.as_string() != content:
            text.from_string(content)
        settings = bpy.context.scene.screenwriter
        settings.model = model
        settings.temperature = args.temperature
        settings.max_tokens = args.max_tokens
        settings.stream = not args.no_stream

        mock = ""
        if demo:
            screenplay = fountain.parse(text.as_string())
            if args.all_scenes:
                mock = demo_answer.OFFLINE_LABEL + "\n"
            elif 1 <= args.scene <= len(screenplay.scenes):
                mock = demo_answer.offline_answer(screenplay, screenplay.scenes[args.scene - 1])
            print("No provider configured (OPENAI_API_KEY, ANTHROPIC_API_KEY or a local Ollama):", file=sys.stderr)
            print("running the OFFLINE DEMO on LiteLLM's mock response.\n", file=sys.stderr)
        print(
            f"Blender {bpy.app.version_string} | {args.screenplay.name} | scene {args.scene} | "
            f"model {model}{' (offline demo)' if demo else ''}"
            f"{f' | API Base {args.api_base}' if args.api_base else ''}\n",
            file=sys.stderr,
        )

        if args.all_scenes:
            return run_all_scenes(args, text, mock)

        def echo(piece: str) -> None:
            sys.stdout.write(safe_for_terminal(piece))
            sys.stdout.flush()

        try:
            answer = api.analyze_scene(
                text.name, args.scene, api_base=args.api_base or None, mock_response=mock, on_text=echo, check=False
            )
        except api.CommandError as exc:  # refused before anything was sent
            print(f"\n{safe_for_terminal(str(exc).strip())}", file=sys.stderr)
            return 1
        assert isinstance(answer, api.Answer)
        print(f"\n\n{safe_for_terminal(answer.status)}", file=sys.stderr)
        output = answer.text
        if output is not None:
            out = args.out or Path(f"{args.screenplay.stem}-scene-{args.scene}-analysis.txt")
            out.write_text(output.as_string(), encoding="utf-8")
            print(f"Analysis written to {out}", file=sys.stderr)
        if args.save_blend:
            bpy.ops.wm.save_as_mainfile(filepath=str(args.save_blend.resolve()))
            print(f"Saved {args.save_blend}", file=sys.stderr)
        if answer.ok:
            return 0
        return 130 if answer.outcome == "cancelled" else 1
    finally:
        screenwriter_llm.unregister()


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.exit(code)
