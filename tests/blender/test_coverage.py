"""Whole-script coverage through real bpy: every scene analysed once with bounded concurrency, in
script order in the report, resumable, with a shared backoff when the provider answers 429."""

from __future__ import annotations

import time

import bpy

from screenwriter_llm import runtime, texts
from screenwriter_llm.core.screenplay import fountain
from tests.blender.conftest import configure, load_screenplay
from tests.provider_server import error, synthetic


def scene_of(body: dict, screenplay: fountain.Screenplay) -> int:
    """Which scene a request carried (its text is in the user message)."""
    user = body["messages"][-1]["content"]
    found = [s.number for s in screenplay.scenes if f"Scene {s.number} of " in user]
    assert len(found) == 1
    return found[0]


def test_every_scene_once_in_script_order(server, received):
    server.set_default("openai", synthetic(text="A sharp, useful note.", first_byte_delay=0.05))
    try:
        configure("openai/gpt-4o-mini", server.api_base("openai"))
        source = load_screenplay("The-Last-Birthday-Card.fountain")
        screenplay = fountain.parse(source.as_string())
        most_at_once = [0]
        runtime.get().listeners.append(
            lambda job, batch: most_at_once.__setitem__(
                0, max(most_at_once[0], sum(1 for r in runtime.get().runs for _ in r.running))
            )
        )
        try:
            result = bpy.ops.screenwriter.analyze_all_scenes(text=source.name, concurrency=4)
        finally:
            runtime.get().listeners.clear()
    finally:
        server.clear_queues()
    assert result == {"FINISHED"}
    requests = received()
    assert sorted(scene_of(r.body, screenplay) for r in requests) == list(range(1, 49))
    assert 1 < most_at_once[0] <= 4, "bounded concurrency, and more than one at a time"
    report = bpy.data.texts["The-Last-Birthday-Card - Coverage"].as_string()
    headings = [line for line in report.splitlines() if line.startswith("## Scene ")]
    assert headings == [f"## Scene {s.number}: {s.heading}" for s in screenplay.scenes]
    assert report.count("A sharp, useful note.") == 48
    assert "Scenes analysed: 48 of 48" in report
    for scene in screenplay.scenes:
        text = bpy.data.texts[texts.analysis_name(source.name, scene.number)]
        assert text.as_string() == "A sharp, useful note."
    assert source.as_string() == load_screenplay("The-Last-Birthday-Card.fountain").as_string()


def test_rerun_skips_finished_scenes_unless_forced(server, received):
    server.set_default("openai", synthetic(text="Note."))
    try:
        configure("openai/gpt-4o-mini", server.api_base("openai"))
        source = load_screenplay("Brick-and-Steel.fountain")
        bpy.ops.screenwriter.analyze_all_scenes(text=source.name, concurrency=3)
        assert len(received()) == 8
        for number in (2, 5):  # two analyses are lost (deleted by the user)
            bpy.data.texts.remove(bpy.data.texts[texts.analysis_name(source.name, number)])
        bpy.ops.screenwriter.analyze_all_scenes(text=source.name, concurrency=3)
        screenplay = fountain.parse(source.as_string())
        assert sorted(scene_of(r.body, screenplay) for r in received()[8:]) == [2, 5]
        bpy.ops.screenwriter.analyze_all_scenes(text=source.name, concurrency=3, force=True)
        assert len(received()) == 8 + 2 + 8
        assert "Scenes analysed: 8 of 8" in bpy.data.texts["Brick-and-Steel - Coverage"].as_string()
    finally:
        server.clear_queues()


def test_a_failed_scene_does_not_stop_the_others(server, received):
    server.set_default("openai", synthetic(text="Note."))
    server.enqueue("openai", error("openai_401_invalid_api_key.json"))
    try:
        configure("openai/gpt-4o-mini", server.api_base("openai"))
        source = load_screenplay("Brick-and-Steel.fountain")
        assert bpy.ops.screenwriter.analyze_all_scenes(text=source.name, concurrency=1) == {"FINISHED"}
    finally:
        server.clear_queues()
    report = bpy.data.texts["Brick-and-Steel - Coverage"].as_string()
    assert "Scenes analysed: 7 of 8" in report
    assert "[Not complete: [Screenwriter LLM: stopped. No answer was received. The provider rejected" in report


def test_a_429_pauses_every_worker(server, received):
    server.set_default("openai", synthetic(text="Note.", first_byte_delay=0.05))
    server.enqueue("openai", error(429, headers={"Retry-After": "1"}))
    try:
        configure("openai/gpt-4o-mini", server.api_base("openai"))
        source = load_screenplay("Brick-and-Steel.fountain")
        assert bpy.ops.screenwriter.analyze_all_scenes(text=source.name, concurrency=2) == {"FINISHED"}
    finally:
        server.clear_queues()
    requests = received()
    assert len(requests) == 9, "8 scenes, one retried"
    limited = next(r for r in requests if r.status == 429)
    during_pause = [r for r in requests if limited.received_at + 0.2 < r.received_at < limited.received_at + 0.9]
    assert during_pause == [], "no new request while the provider asked everyone to wait"
    assert "Scenes analysed: 8 of 8" in bpy.data.texts["Brick-and-Steel - Coverage"].as_string()


def test_cancel_stops_the_run_and_keeps_finished_scenes(server, received):
    server.set_default("openai", synthetic(tokens=200, tokens_per_second=400))
    try:
        configure("openai/gpt-4o-mini", server.api_base("openai"))
        source = load_screenplay("Brick-and-Steel.fountain")

        def cancel_when_two_done(job, batch):
            if runtime.get().runs and len(runtime.get().runs[0].done) >= 2:
                bpy.ops.screenwriter.cancel()

        runtime.get().listeners.append(cancel_when_two_done)
        started = time.monotonic()
        try:
            bpy.ops.screenwriter.analyze_all_scenes(text=source.name, concurrency=2)
        finally:
            runtime.get().listeners.clear()
    finally:
        server.clear_queues()
    assert time.monotonic() - started < 10
    assert len(received()) < 8
    assert not runtime.get().runs and not runtime.get().running()
