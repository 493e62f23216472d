"""Previs on real bpy (4.2 LTS, 5.0, 5.3): the story reel from *Big Fish* (190 scenes), updated in place; shot plans
from scripted structured answers (cameras, lens table, camera-bound markers; invalid answers and the one repair);
the breakdown CSV against ``core.screenplay.stats``; the navigator's statistics cache; the scripting API."""

from __future__ import annotations

import csv
import json

import pytest

from tests.blender.conftest import bpy, configure, load_screenplay
from tests.provider_server import synthetic

pytestmark = pytest.mark.blender

FPS = 24


def _reel(name: str = "Big-Fish - Story Reel") -> bpy.types.Scene:
    return bpy.data.scenes[name]


def _strips(scene: bpy.types.Scene, channel: int) -> list:
    from screenwriter_llm import compat

    found = [s for s in compat.strips(scene) if s.channel == channel]
    return sorted(found, key=lambda s: compat.strip_span(s)[0])


def _spans(scene: bpy.types.Scene, channel: int) -> list[tuple[int, int]]:
    from screenwriter_llm import compat

    return [compat.strip_span(s) for s in _strips(scene, channel)]


def _big_fish() -> bpy.types.Text:
    bpy.context.scene.render.fps = FPS
    bpy.context.scene.render.fps_base = 1.0
    return load_screenplay("Big-Fish.fountain")


def test_big_fish_reel_has_a_contiguous_strip_and_marker_per_scene(addon: object) -> None:
    from screenwriter_llm.core.screenplay.stats import script_stats

    source = _big_fish()
    stats = script_stats(source.as_string())
    assert len(stats.scenes) == 190
    assert bpy.ops.screenwriter.build_story_reel(text=source.name) == {"FINISHED"}
    reel = _reel()
    colour, heading = _strips(reel, 1), _strips(reel, 2)
    assert len(colour) == 190 and len(heading) == 190
    assert all(s.type == "COLOR" for s in colour) and all(s.type == "TEXT" for s in heading)
    spans = _spans(reel, 1)
    assert spans[0][0] == reel.frame_start
    for (first, length), (after, _) in zip(spans, spans[1:], strict=False):
        assert first + length == after, "contiguous"
    # 60 s a page, 24 fps: one eighth is 7.5 s = 180 frames exactly.
    assert [length for _, length in spans] == [s.eighths * 180 for s in stats.scenes]
    total = sum(length for _, length in spans)
    assert total == sum(s.eighths for s in stats.scenes) * 180
    assert reel.frame_end - reel.frame_start + 1 == total
    assert abs(total / FPS / 60 - sum(s.eighths for s in stats.scenes) / 8) < 1e-9  # minutes == pages
    assert _spans(reel, 2) == spans, "a heading above each scene"
    assert [s.text for s in heading] == [s.heading for s in stats.scenes]
    assert colour[0].name == "1. " + " ".join(stats.scenes[0].heading.split())
    assert all(len(s.name.encode()) <= 63 for s in colour)
    markers = sorted(reel.timeline_markers, key=lambda m: m.frame)
    assert len(markers) == 190 and [m.frame for m in markers] == [first for first, _ in spans]
    ids = [s["screenwriter_scene_id"] for s in colour]
    assert len(set(ids)) == 190

    from screenwriter_llm import api

    again = api.build_story_reel(source.name)
    assert again["changes"] == 0 and "0 changes" in again["message"]
    assert len(_strips(reel, 1)) == 190 and len(reel.timeline_markers) == 190 and _spans(reel, 1) == spans


def test_reel_updates_in_place_keeps_hand_lengths_and_user_strips(addon: object) -> None:
    from screenwriter_llm import api, compat

    source = _big_fish()
    api.build_story_reel(source)
    reel = _reel()
    user = compat.new_color_strip(reel, "my overlay", channel=5, frame_start=100, length=500)
    user_span = compat.strip_span(user)
    ids_before = [s["screenwriter_scene_id"] for s in _strips(reel, 1)]

    # A hand-changed length (scene 3) is kept on the next run.
    third = _strips(reel, 1)[2]
    compat.set_strip_span(third, compat.strip_span(third)[0], 77)
    kept = api.build_story_reel(source)
    assert kept["kept"] == 1 and compat.strip_span(_strips(reel, 1)[2])[1] == 77
    spans = _spans(reel, 1)
    assert all(a[0] + a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False))

    # Edit the script: scene 2 removed, a new scene after scene 10.
    lines = source.as_string().split("\n")
    from screenwriter_llm.core.screenplay import fountain

    screenplay = fountain.parse(source.as_string())
    s2, s10 = screenplay.scenes[1], screenplay.scenes[9]
    new_scene = ["INT. PREVIS TEST ROOM - NIGHT", "", "A room that was never in the script.", ""]
    edited = lines[: s2.start_line] + lines[s2.end_line + 1 : s10.end_line + 1] + new_scene + lines[s10.end_line + 1 :]
    source.from_string("\n".join(edited))
    report = api.build_story_reel(source)
    assert report["added"] == 1 and report["removed"] == 1, report
    assert report["message"].startswith("'Big-Fish - Story Reel': 1 scene added, 1 removed"), report["message"]
    colour = _strips(reel, 1)
    assert len(colour) == 190 and len(_strips(reel, 2)) == 190 and len(reel.timeline_markers) == 190
    ids = [s["screenwriter_scene_id"] for s in colour]
    assert ids_before[1] not in ids and len(set(ids)) == 190
    assert ids[:1] == ids_before[:1] and ids[1:9] == ids_before[2:10], "the other scenes keep their ids"
    assert colour[9].name == "10. INT. PREVIS TEST ROOM - NIGHT"
    assert [s.name.split(".")[0] for s in colour] == [str(n) for n in range(1, 191)], "renumbered, no .001"
    assert compat.strip_span(colour[1])[1] == 77, "scene 3 (now 2) keeps its hand-set length"
    spans = _spans(reel, 1)
    assert all(a[0] + a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False))
    assert sorted(m.frame for m in reel.timeline_markers) == [first for first, _ in spans]
    assert compat.strip_span(user) == user_span and user.channel == 5 and user.name == "my overlay"
    assert api.build_story_reel(source)["changes"] == 0

    reset = api.build_story_reel(source, reset_lengths=True)
    assert reset["retimed"] == 1 and reset["kept"] == 0
    assert compat.strip_span(_strips(reel, 1)[1])[1] != 77
    assert compat.strip_span(user) == user_span and user.channel == 5


def _scene_lines(source: bpy.types.Text, number: int) -> tuple[int, int]:
    from screenwriter_llm.core.screenplay import fountain

    scene = fountain.parse(source.as_string()).scenes[number - 1]
    return scene.start_line + 1, scene.end_line + 1


def _plan(first: int, last: int) -> dict:
    mid = (first + last) // 2
    return {
        "shots": [
            {
                "number": 1,
                "size": "WS",
                "angle": "eye level",
                "movement": "static",
                "subjects": ["WILL"],
                "description": "The room.",
                "first_line": first,
                "last_line": mid,
                "duration_s": 6.0,
            },
            {
                "number": 2,
                "size": "CU",
                "angle": "low angle",
                "movement": "dolly in",
                "subjects": ["WILL"],
                "description": "His face.",
                "first_line": mid,
                "last_line": last,
                "duration_s": 3.0,
            },
            {
                "number": 3,
                "size": "ECU",
                "angle": "eye level",
                "movement": "static",
                "subjects": [],
                "description": "A detail.",
                "first_line": last,
                "last_line": last,
                "duration_s": 1.0,
            },
        ]
    }


def test_plan_shots_makes_cameras_and_camera_bound_markers(server, received, tmp_path) -> None:
    from screenwriter_llm import compat, timeline
    from screenwriter_llm.core.tasks.schema import LENS_MM, ShotSize

    configure("openai/gpt-4o-mini", server.api_base("openai"))
    source = _big_fish()
    first, last = _scene_lines(source, 5)
    server.enqueue("openai", synthetic(text=json.dumps(_plan(first, last))))
    assert bpy.ops.screenwriter.plan_shots(text=source.name, scene=5) == {"FINISHED"}
    [request] = received()
    body = request.body
    assert "response_format" in body and body["response_format"]["json_schema"]["name"] == "ShotPlan"
    prompt = body["messages"][-1]["content"]
    assert f"{first}| " in prompt and f"{last}| " in prompt, "numbered lines"

    collection = bpy.data.collections["Big-Fish - Scene 5 Shots"]
    cameras = sorted(collection.objects, key=lambda o: o.name)
    assert [o.name for o in cameras] == ["5-1 WS", "5-2 CU", "5-3 ECU"]
    assert {o.name: o.data.lens for o in cameras} == {
        "5-1 WS": LENS_MM[ShotSize.WS],
        "5-2 CU": LENS_MM[ShotSize.CU],
        "5-3 ECU": LENS_MM[ShotSize.ECU],
    }
    reel = _reel()
    span_first, span_length = timeline.scene_ranges(reel)[
        timeline.scene_ids([s.heading for s in _stats(source).scenes])[4]
    ]
    bound = sorted((m for m in reel.timeline_markers if m.camera is not None), key=lambda m: m.frame)
    assert [m.camera.name for m in bound] == ["5-1 WS", "5-2 CU", "5-3 ECU"]
    frames = [m.frame for m in bound]
    assert span_first == frames[0] and all(span_first <= f < span_first + span_length for f in frames)
    assert frames[1] - frames[0] == round(span_length * 0.6) and frames[2] - frames[0] == round(span_length * 0.9)
    for marker in bound:
        reel.frame_set(marker.frame)
        assert reel.camera == marker.camera
    table = bpy.data.texts["Big-Fish - Scene 5 Shot Plan"].as_string()
    assert table.startswith("Shot plan - Scene 5: ") and " CU     85mm" in table and "3 shots, 10.0 s" in table
    out = tmp_path / "shots.csv"
    assert bpy.ops.screenwriter.export_shot_list(text="Big-Fish - Scene 5 Shot Plan", filepath=str(out)) == {"FINISHED"}
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [(r["shot"], r["size"], r["lens_mm"]) for r in rows] == [
        ("1", "WS", "24.0"),
        ("2", "CU", "85.0"),
        ("3", "ECU", "135.0"),
    ]

    # Re-running replaces this scene's shots only.
    strips_before = len(compat.strips(reel))
    plan = _plan(first, last)
    plan["shots"] = plan["shots"][:2]
    server.enqueue("openai", synthetic(text=json.dumps(plan)))
    assert bpy.ops.screenwriter.plan_shots(text=source.name, scene=5) == {"FINISHED"}
    assert sorted(o.name for o in collection.objects) == ["5-1 WS", "5-2 CU"]
    assert sorted(m.name for m in reel.timeline_markers if m.camera is not None) == ["5-1 WS", "5-2 CU"]
    assert len(compat.strips(reel)) == strips_before and len(reel.timeline_markers) == 190 + 2


def _stats(source: bpy.types.Text):
    from screenwriter_llm.core.screenplay.stats import script_stats

    return script_stats(source.as_string())


def test_plan_shots_invalid_twice_creates_nothing_and_keeps_the_raw_answer(server, received) -> None:
    from screenwriter_llm import api

    configure("openai/gpt-4o-mini", server.api_base("openai"))
    source = _big_fish()
    first, last = _scene_lines(source, 7)
    bad = _plan(first, last)
    bad["shots"][0]["size"] = "HUGE"
    server.enqueue("openai", synthetic(text="Here is my plan: shots, shots."), synthetic(text=json.dumps(bad)))
    with pytest.raises(RuntimeError, match="not the JSON asked for, even after one repair"):
        bpy.ops.screenwriter.plan_shots(text=source.name, scene=7)
    requests = received()
    assert len(requests) == 2
    repair = requests[1].body["messages"]
    assert repair[-2] == {"role": "assistant", "content": "Here is my plan: shots, shots."}
    assert "could not be used" in repair[-1]["content"]
    raw = bpy.data.texts["Big-Fish - Scene 7 Shot Plan (raw)"].as_string()
    assert "Here is my plan" in raw and '"HUGE"' in raw and "shots[0].size" in raw
    assert "Big-Fish - Scene 7 Shots" not in bpy.data.collections
    assert "Big-Fish - Scene 7 Shot Plan" not in bpy.data.texts
    assert not any(o.type == "CAMERA" for o in bpy.data.objects)
    assert "Big-Fish - Story Reel" not in bpy.data.scenes, "nothing created, not even the reel"

    server.enqueue("openai", synthetic(text="nope"), synthetic(text="still nope"))
    with pytest.raises(api.RequestFailed) as failed:
        api.plan_shots(source, 7)
    assert failed.value.answer.name == "Big-Fish - Scene 7 Shot Plan (raw)"


def test_plan_shots_valid_repair_works(server, received) -> None:
    from screenwriter_llm import api

    configure("openai/gpt-4o-mini", server.api_base("openai"))
    source = _big_fish()
    first, last = _scene_lines(source, 2)
    server.enqueue(
        "openai", synthetic(text='```json\n{"shots": [\n```'), synthetic(text=json.dumps(_plan(first, last)))
    )
    result = api.plan_shots(source, 2)
    assert len(received()) == 2
    assert result["cameras"] == ["2-1 WS", "2-2 CU", "2-3 ECU"] and len(result["markers"]) == 3
    assert result["text"] == "Big-Fish - Scene 2 Shot Plan"
    assert len(bpy.data.collections["Big-Fish - Scene 2 Shots"].objects) == 3
    assert "Big-Fish - Story Reel" in bpy.data.scenes, "the reel was built first"


def test_breakdown_csv_has_the_parser_fields_of_every_scene(addon: object, tmp_path) -> None:
    from screenwriter_llm.core.screenplay.pages import format_eighths

    source = _big_fish()
    stats = _stats(source)
    out = tmp_path / "breakdown.csv"
    assert bpy.ops.screenwriter.export_breakdown(text=source.name, filepath=str(out)) == {"FINISHED"}
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert len(rows) == 190
    expected = [
        {
            "scene": str(s.scene_number),
            "heading": s.heading,
            "int_ext": s.setting or "",
            "location": s.location,
            "time_of_day": s.time_of_day or "",
            "eighths": str(s.eighths),
            "pages": format_eighths(s.eighths),
            "speaking_cast": "; ".join(s.characters),
        }
        for s in stats.scenes
    ]
    assert rows == expected


SMALL = """Title: Rain Check

INT. HALLWAY - NIGHT

JOHN shakes out a wet UMBRELLA and hangs up his HAT.

JOHN
Some weather.

EXT. STREET - DAY

A red BICYCLE leans on a lamp post.
"""


def test_breakdown_with_the_model_grounds_items_and_flags_missing_assets(server, received, tmp_path) -> None:
    configure("openai/gpt-4o-mini", server.api_base("openai"))
    source = bpy.data.texts.new("rain.fountain")
    source.from_string(SMALL)
    bpy.data.objects.new("Umbrella.001", None)
    scene1 = {
        "items": [
            {"category": "cast", "name": "JOHN", "line": 5},
            {"category": "prop", "name": "UMBRELLA", "line": 5},
            {"category": "wardrobe", "name": "HAT", "line": 5},
            {"category": "prop", "name": "SWORD", "line": 5},
        ]
    }
    scene2 = {"items": [{"category": "vehicle", "name": "BICYCLE", "line": 12}]}
    server.enqueue("openai", synthetic(text=json.dumps(scene1)), synthetic(text=json.dumps(scene2)))
    out = tmp_path / "breakdown.csv"
    result = bpy.ops.screenwriter.export_breakdown(text=source.name, filepath=str(out), use_model=True, concurrency=1)
    assert result == {"FINISHED"}
    assert len(received()) == 2
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [(r["scene"], r["int_ext"], r["location"], r["time_of_day"], r["speaking_cast"]) for r in rows] == [
        ("1", "INT", "HALLWAY", "NIGHT", "JOHN"),
        ("2", "EXT", "STREET", "DAY", ""),
    ]
    first, second = rows
    assert first["prop"] == "UMBRELLA (line 5)" and first["wardrobe"] == "HAT (line 5)"
    assert "SWORD: not in the scene's text (dropped)" in first["flags"]
    assert "HAT: nothing in this file is named like it" in first["missing_assets"]
    assert "UMBRELLA" not in first["missing_assets"], "Umbrella.001 is in the file"
    assert second["vehicle"] == "BICYCLE (line 12)"
    assert second["missing_assets"] == "BICYCLE: nothing in this file is named like it"


def test_script_stats_api_and_runtime_cache(addon: object) -> None:
    from screenwriter_llm import api, runtime
    from screenwriter_llm.core.screenplay.stats import script_stats

    source = _big_fish()
    stats = api.script_stats(source)
    core = script_stats(source.as_string())
    assert stats["eighths"] == core.eighths and len(stats["scenes"]) == 190
    assert stats["runtime_seconds"] == core.runtime_seconds
    assert stats["characters"]["WILL"]["lines"] == core.characters["WILL"].dialogue_lines
    state = runtime.get()
    cached = state.script_stats(source, now=100.0)
    assert state.script_stats(source, now=100.1) is cached
    source.from_string(source.as_string() + "\n\nINT. NEW PLACE - DAY\n\nSomething.\n")
    assert state.script_stats(source, now=100.2) is cached, "not recomputed while the writer types"
    after = 100.2 + runtime.PARSE_PAUSE + 0.01
    assert state.script_stats(source, now=after) is cached, "the pause gives it to the worker; no redraw waits"
    state.background.join(30)
    fresh = state.script_stats(source, now=after + runtime.PARSE_POLL)
    assert fresh is not cached and len(fresh.scenes) == 191


def test_shot_markers_follow_their_scene_when_the_reel_is_retimed(server, received) -> None:
    from screenwriter_llm import api, timeline

    configure("openai/gpt-4o-mini", server.api_base("openai"))
    source = _big_fish()
    first, last = _scene_lines(source, 4)
    server.enqueue("openai", synthetic(text=json.dumps(_plan(first, last))))
    api.plan_shots(source, 4)
    reel = _reel()
    sid = timeline.scene_ids([s.heading for s in _stats(source).scenes])[3]
    report = api.build_story_reel(source, seconds_per_page=30.0)
    assert report["retimed"] == 190
    start, length = timeline.scene_ranges(reel)[sid]
    bound = sorted((m for m in reel.timeline_markers if m.camera is not None), key=lambda m: m.frame)
    assert [m.camera.name for m in bound] == ["4-1 WS", "4-2 CU", "4-3 ECU"]
    assert bound[0].frame == start and all(start <= m.frame < start + length for m in bound)
    assert bound[1].frame - start == round(0.6 * length)


def test_response_format_only_where_litellm_says_the_model_supports_it(server, received) -> None:
    configure("openai/my-own-finetune", server.api_base("openai"))
    source = _big_fish()
    first, last = _scene_lines(source, 3)
    server.enqueue("openai", synthetic(text=json.dumps(_plan(first, last))))
    assert bpy.ops.screenwriter.plan_shots(text=source.name, scene=3) == {"FINISHED"}
    [request] = received()
    assert "response_format" not in request.body
    assert '"ShotPlan"' in request.body["messages"][0]["content"], "the schema is in the prompt"


def test_navigator_steps_through_a_characters_scenes(addon: object) -> None:
    from screenwriter_llm import runtime
    from screenwriter_llm.ui import navigator

    source = _big_fish()
    stats = runtime.get().script_stats(source)
    lines = navigator.character_scene_lines(stats)
    assert navigator.character_scene_lines(stats) is lines, "cached per statistics object"
    will = lines["WILL"]
    assert will == [s.first_line - 1 for s in stats.scenes if "WILL" in s.characters]
    assert navigator.next_scene_line(will, will[0]) == will[1]
    assert navigator.next_scene_line(will, will[-1]) == will[0], "wraps round"
    scene = navigator.current_scene(stats, will[1] + 1)
    assert scene is not None and scene.first_line - 1 == will[1]
    assert navigator.current_scene(stats, 0) is None
    assert "SCREENWRITER_MT_previs" in dir(bpy.types) and hasattr(bpy.types, "SCREENWRITER_PT_navigator")


REPEATS = """INT. KITCHEN - DAY

Toast.

INT. KITCHEN - DAY

More toast.

EXT. GARDEN - DAY

Birds.
"""


def test_repeated_headings_keep_their_ids_strips_and_markers_apart(addon: object) -> None:
    from screenwriter_llm import api, timeline

    source = bpy.data.texts.new("toast.fountain")
    source.from_string(REPEATS)
    first = api.build_story_reel(source)
    assert first["added"] == 3 and first["created"]
    reel = bpy.data.scenes["toast - Story Reel"]
    ids = [s["screenwriter_scene_id"] for s in _strips(reel, 1)]
    assert ids == timeline.scene_ids(["INT. KITCHEN - DAY", "INT. KITCHEN - DAY", "EXT. GARDEN - DAY"])
    assert len(set(ids)) == 3
    source.from_string("INT. KITCHEN - DAY\n\nCoffee first.\n\n" + REPEATS)
    report = api.build_story_reel(source)
    assert report["added"] == 1 and report["removed"] == 0 and report["scenes"] == 4
    names = [s.name for s in _strips(reel, 1)]
    assert names == ["1. INT. KITCHEN - DAY", "2. INT. KITCHEN - DAY", "3. INT. KITCHEN - DAY", "4. EXT. GARDEN - DAY"]
    markers = sorted(reel.timeline_markers, key=lambda m: m.frame)
    assert [m.name for m in markers] == names and [m.frame for m in markers] == [s for s, _ in _spans(reel, 1)]
    assert api.build_story_reel(source)["changes"] == 0
    with pytest.raises(api.CommandError, match="must be positive"):
        api.build_story_reel(source, seconds_per_page=0)
    other = bpy.data.texts.new("other.fountain")
    other.from_string("Just action, no headings.\n")
    with pytest.raises(api.CommandError, match="No scene headings"):
        api.build_story_reel(other)
    assert "other - Story Reel" not in bpy.data.scenes


def test_breakdown_with_no_model_configured_still_writes_the_parser_fields(server, received, tmp_path) -> None:
    configure("", server.api_base("openai"))
    source = bpy.data.texts.new("rain.fountain")
    source.from_string(SMALL)
    out = tmp_path / "breakdown.csv"
    assert bpy.ops.screenwriter.export_breakdown(text=source.name, filepath=str(out), use_model=True) == {"FINISHED"}
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    stats = _stats(source)
    assert [(r["scene"], r["heading"], r["eighths"], r["speaking_cast"]) for r in rows] == [
        (str(s.scene_number), s.heading, str(s.eighths), "; ".join(s.characters)) for s in stats.scenes
    ]
    assert [r["speaking_cast"] for r in rows] == ["JOHN", ""]
    assert all(r["flags"].startswith("Model not used: Set a model") for r in rows)
    assert received() == []


def test_plan_shots_refuses_to_overwrite_a_users_text_and_makes_nothing(server, received) -> None:
    configure("openai/gpt-4o-mini", server.api_base("openai"))
    source = _big_fish()
    bpy.data.texts.new("Big-Fish - Scene 6 Shot Plan").from_string("my own notes")
    first, last = _scene_lines(source, 6)
    server.enqueue("openai", synthetic(text=json.dumps(_plan(first, last))))
    with pytest.raises(RuntimeError, match="was not written by Screenwriter LLM"):
        bpy.ops.screenwriter.plan_shots(text=source.name, scene=6)
    assert bpy.data.texts["Big-Fish - Scene 6 Shot Plan"].as_string() == "my own notes"
    assert "Big-Fish - Scene 6 Shots" not in bpy.data.collections and "Big-Fish - Story Reel" not in bpy.data.scenes
    assert "Big-Fish - Scene 6 Shot Plan (raw)" in bpy.data.texts
