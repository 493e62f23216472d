"""Typing stays instant: what the sidebar panels draw and read per keystroke (issue 10), with real ``bpy``.

``bpy`` as a module has no window, so the panels draw into a recording layout (:class:`Recorder`) with a context
that carries a Text Editor ``space_data``, as ``scripts/bench.py --typing-only`` does. The runtime's clock is
passed explicitly (``now=``) where the pause matters.
"""

from __future__ import annotations

import re
import time
from typing import Any

import bpy
import pytest

from tests.blender.conftest import load_screenplay


class _Props:
    """What ``UILayout.operator`` returns: the properties a panel sets on the button (kept in ``props``)."""

    def __init__(self, record: dict[str, Any]) -> None:
        object.__setattr__(self, "_props", record.setdefault("props", {}))

    def __setattr__(self, name: str, value: Any) -> None:
        self._props[name] = value


class Recorder:
    """A stand-in ``UILayout``: every ``label``/``operator`` call is recorded in ``items`` as a dict with the
    function name, its keyword arguments and, for an operator, the properties set on it (``props``)."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        object.__setattr__(self, "items", items)

    def __getattr__(self, name: str) -> Any:
        items = self.items

        def call(*args: Any, **kwargs: Any) -> Any:
            if name in ("row", "column", "box", "split"):
                return Recorder(items)
            record: dict[str, Any] = {"call": name, "args": args, **kwargs}
            items.append(record)
            return _Props(record) if name == "operator" else None

        return call

    def __setattr__(self, name: str, value: Any) -> None:  # scale_y and the like
        pass


class _Space:
    type = "TEXT_EDITOR"

    def __init__(self, text: bpy.types.Text) -> None:
        self.text = text


def _context(text: bpy.types.Text) -> Any:
    context = type("Context", (), {})()
    context.space_data = _Space(text)
    context.scene = bpy.context.scene
    context.preferences = bpy.context.preferences
    context.window_manager = bpy.context.window_manager
    context.region = None
    return context


def draw(panel: type, text: bpy.types.Text) -> list[dict[str, Any]]:
    """``panel.draw`` into a :class:`Recorder`; what it drew."""
    items: list[dict[str, Any]] = []
    me = type("Self", (), {"layout": Recorder(items)})()
    panel.draw(me, _context(text))
    return items


def _buttons(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [item for item in items if item["call"] == "operator"]


def _type_heading(source: bpy.types.Text, near: int) -> None:
    """Type a new scene heading, between blank lines, on the first blank line from ``near`` on (the cursor moves,
    as when the writer types it)."""
    lines = source.as_string().split("\n")
    line = next(i for i in range(near, len(lines)) if not lines[i].strip() and lines[i - 1].strip())
    source.cursor_set(line, character=0)
    source.write("\nINT. NEW PLACE - DAY\n\n")


def test_scene_window_is_centred_on_the_cursor_and_clamped(addon: object) -> None:
    from screenwriter_llm.ui.panels import scene_window

    assert scene_window(10, 4, size=17) == range(10), "a short script lists every scene"
    assert scene_window(190, None, size=17) == range(17)
    assert scene_window(190, 0, size=17) == range(17)
    assert scene_window(190, 100, size=17) == range(92, 109)
    assert scene_window(190, 189, size=17) == range(173, 190)
    assert all(len(scene_window(190, i, size=17)) == 17 and i in scene_window(190, i, size=17) for i in range(190))


def test_scenes_panel_lists_a_window_around_the_cursor_with_buttons_to_the_rest(addon: object) -> None:
    from screenwriter_llm import runtime
    from screenwriter_llm.ui import panels

    source = load_screenplay("Big-Fish.fountain")
    screenplay = runtime.get().screenplay(source, fresh=True)
    assert len(screenplay.scenes) == 190
    scene = screenplay.scenes[99]  # scene 100
    source.cursor_set(scene.start_line + 1, character=0)
    buttons = _buttons(draw(panels.SCREENWRITER_PT_scenes, source))
    size = panels.SCENE_WINDOW
    first = 100 - 1 - size // 2
    earlier, *listed, more = buttons
    assert earlier["text"] == f"… {first} earlier" and earlier["icon"] == "TRIA_UP"
    assert earlier["props"]["line"] == screenplay.scenes[first - 1].start_line, "goes to the scene above the window"
    assert more["text"] == f"… {190 - first - size} more" and more["icon"] == "TRIA_DOWN"
    assert more["props"]["line"] == screenplay.scenes[first + size].start_line
    assert [b["text"] for b in listed] == [f"{s.number}. {s.heading}" for s in screenplay.scenes[first : first + size]]
    assert all(b["props"]["text"] == source.name for b in buttons), "every button names the script"
    depressed = [b for b in listed if b["depress"]]
    assert [b["props"]["line"] for b in depressed] == [scene.start_line], "the scene at the cursor is highlighted"
    counted = sum(int(m.group(1)) if (m := re.fullmatch(r"… (\d+) \w+", b["text"])) else 1 for b in buttons)
    assert counted == 190

    source.cursor_set(0, character=0)  # the title page: before the first heading
    buttons = _buttons(draw(panels.SCREENWRITER_PT_scenes, source))
    assert buttons[0]["text"].startswith("1. ") and buttons[-1]["text"] == f"… {190 - size} more"
    assert not any(b.get("depress") for b in buttons)


def test_characters_and_locations_are_capped_with_a_count_of_the_rest(addon: object) -> None:
    from screenwriter_llm import runtime
    from screenwriter_llm.ui import navigator

    source = load_screenplay("Big-Fish.fountain")
    stats = runtime.get().script_stats(source, navigator.SECONDS_PER_PAGE, fresh=True)
    items = draw(navigator.SCREENWRITER_PT_characters, source)
    labels = [item["text"] for item in items if item["call"] == "label"]
    top = sorted(stats.characters.values(), key=lambda c: (-c.dialogue_lines, c.name))[: navigator.MAX_ROWS]
    assert labels[:-1] == [f"{c.name}: {c.scenes} sc, {c.dialogue_lines} lines, {c.words} words" for c in top]
    assert labels[-1] == f"… {len(stats.characters) - navigator.MAX_ROWS} more"
    steps = _buttons(items)
    assert len(steps) == navigator.MAX_ROWS and all(b["icon"] == "TRIA_RIGHT" for b in steps)
    assert navigator.character_rows(stats) is navigator.character_rows(stats), "kept per statistics object"

    places = [item["text"] for item in draw(navigator.SCREENWRITER_PT_locations, source) if item["call"] == "label"]
    assert len(places) == navigator.MAX_ROWS + 1 and places[-1] == f"… {len(stats.locations) - navigator.MAX_ROWS} more"


def test_a_keystroke_costs_no_read_and_the_parse_follows_the_pause(addon: object) -> None:
    from screenwriter_llm import runtime

    state = runtime.get()
    asked: list[float] = []
    state.on_parse_pending = asked.append
    source = load_screenplay("Big-Fish.fountain")
    source.cursor_set(2000, character=0)
    first = state.screenplay(source, now=10.0)
    assert state.screenplay(source, now=10.01, reuse=True) is first

    _type_heading(source, 2000)  # a keystroke's worth of change: the cursor moves
    reads: list[int] = []
    original = state.reads._store

    def counted(*args: Any) -> str:
        reads.append(1)
        return original(*args)

    state.reads._store = counted  # type: ignore[method-assign]
    assert state.screenplay(source, now=11.0) is first, "the last parse is shown while the writer types"
    assert state.screenplay(source, now=11.001, reuse=True) is first
    assert reads == [], "a keystroke does not copy the script"
    assert asked and asked[0] == pytest.approx(runtime.PARSE_PAUSE), "a redraw is asked for after the pause"
    assert state.screenplay(source, now=11.1) is first and reads == [1], "a redraw without a keystroke reads"
    assert asked[-1] == pytest.approx(11.0 + runtime.PARSE_PAUSE - 11.1)
    after = 11.0 + runtime.PARSE_PAUSE + 0.01
    assert state.screenplay(source, now=after) is first, "the redraw after the pause does not wait for the parse"
    assert asked[-1] == pytest.approx(runtime.PARSE_POLL), "it asks for redraws while the worker parses"
    later = _after_worker(state, lambda: state.screenplay(source, now=after + runtime.PARSE_POLL))
    assert len(later.scenes) == 191, "parsed on the worker once the text stayed unchanged for the pause"
    assert state.screenplay(source, now=after + 1.0) is later
    state.reads._store = original  # type: ignore[method-assign]


def _after_worker(state: Any, redraw: Any) -> Any:
    """What ``redraw()`` shows once the runtime's worker thread has finished what it was given."""
    state.background.join(30)
    return redraw()


def test_the_parse_after_the_pause_never_runs_on_the_main_thread(addon: object) -> None:
    import threading

    from screenwriter_llm import runtime
    from screenwriter_llm.core.screenplay import fountain

    state = runtime.get()
    source = load_screenplay("Big-Fish.fountain")
    first = state.screenplay(source, now=10.0)
    stats = state.script_stats(source, now=10.0)
    _type_heading(source, 3000)
    state.screenplay(source, now=10.1)  # the keystroke's redraw
    threads: list[str] = []
    original = fountain.parse

    def parse(text: str) -> fountain.Screenplay:
        threads.append(threading.current_thread().name)
        return original(text)

    fountain.parse = parse  # type: ignore[assignment]
    try:
        t = 10.1 + runtime.PARSE_PAUSE + 0.01
        assert state.screenplay(source, now=t) is first and state.script_stats(source, now=t, reuse=True) is stats
        later = _after_worker(state, lambda: state.screenplay(source, now=t + 0.05))
        later_stats = state.script_stats(source, now=t + 0.05, reuse=True)
    finally:
        fountain.parse = original  # type: ignore[assignment]
    assert len(later.scenes) == 191 and len(later_stats.scenes) == 191
    assert threads and all(name.startswith("screenwriter-parse") for name in threads), threads


def test_an_edit_that_leaves_the_cursor_alone_is_seen(addon: object) -> None:
    from screenwriter_llm import runtime
    from screenwriter_llm.core.screenplay import fountain

    state = runtime.get()
    source = load_screenplay("Big-Fish.fountain")
    source.cursor_set(10, character=0)
    first = state.screenplay(source, now=10.0)
    heading = first.scenes[50]
    source.lines[heading.start_line].body = "EXT. SOMEWHERE ELSE - NIGHT"  # as a script would: the cursor stays
    assert state.screenplay(source, now=10.2) is first, "not parsed before the pause"
    assert state.screenplay(source, now=10.2 + runtime.PARSE_PAUSE / 2) is first
    after = 10.2 + runtime.PARSE_PAUSE + 0.01
    assert state.screenplay(source, now=after) is first, "given to the worker"
    later = _after_worker(state, lambda: state.screenplay(source, now=after + runtime.PARSE_POLL))
    assert later.scenes[50].heading == "EXT. SOMEWHERE ELSE - NIGHT"
    assert later == fountain.parse(source.as_string())


def test_a_command_always_works_on_the_text_as_it_is(addon: object) -> None:
    from screenwriter_llm import runtime

    state = runtime.get()
    source = load_screenplay("Big-Fish.fountain")
    first = state.screenplay(source, now=10.0)
    _type_heading(source, 3000)
    assert state.screenplay(source, now=10.01) is first
    fresh = state.screenplay(source, fresh=True, now=10.02)
    assert len(fresh.scenes) == 191, "fresh parses at once, whatever the pause"
    assert state.screenplay(source, now=10.03) is fresh


def test_statistics_follow_the_screenplay_on_the_worker(addon: object) -> None:
    from screenwriter_llm import runtime

    state = runtime.get()
    asked: list[float] = []
    state.on_parse_pending = asked.append
    source = load_screenplay("Big-Fish.fountain")
    state.screenplay(source, now=10.0)
    stats = state.script_stats(source, now=10.0)  # first use: computed at once
    _type_heading(source, 3000)
    state.screenplay(source, now=10.1)
    assert state.script_stats(source, now=10.1, reuse=True) is stats
    t = 10.1 + runtime.PARSE_PAUSE + 0.01
    state.screenplay(source, now=t)
    assert state.script_stats(source, now=t, reuse=True) is stats, "the redraw after the pause shows the last"
    assert asked[-1] == pytest.approx(runtime.PARSE_POLL), "and asks for the next redraw"
    state.background.join(30)
    t += runtime.PARSE_POLL
    assert len(state.screenplay(source, now=t).scenes) == 191, "the next redraw (its first panel reads the Text)"
    later = state.script_stats(source, now=t, reuse=True)
    assert len(later.scenes) == 191


def test_the_task_folder_is_looked_up_only_when_the_runtime_checks_it(addon: object) -> None:
    from screenwriter_llm import runtime

    state = runtime.get()
    looked: list[int] = []

    def folder() -> None:
        looked.append(1)
        return None

    catalog = state.tasks(folder, now=100.0)
    assert state.tasks(folder, now=100.5) is catalog and looked == [1]
    assert state.tasks(folder, now=100.0 + runtime.TASKS_CHECK_INTERVAL + 0.1) is catalog and looked == [1, 1]


def test_main_panel_renders_the_analysis_prompt_once_per_parse(addon: object) -> None:
    from screenwriter_llm import runtime
    from screenwriter_llm.ui import panels

    source = load_screenplay("Big-Fish.fountain")
    screenplay = runtime.get().screenplay(source, fresh=True)
    scene = screenplay.scenes[4]
    context = _context(source)
    messages = panels._analysis_messages(context, screenplay, scene, source.name)
    assert isinstance(messages, tuple) and scene.heading in str(messages)
    assert panels._analysis_messages(context, screenplay, scene, source.name) is messages
    other = panels._analysis_messages(context, screenplay, screenplay.scenes[5], source.name)
    assert other is not messages and screenplay.scenes[5].heading in str(other)
    source.cursor_set(scene.start_line, character=0)
    labels = [item.get("text") for item in draw(panels.SCREENWRITER_PT_main, source) if item["call"] == "operator"]
    assert "Analyze Scene 5" in labels


def test_the_cursor_line_is_kept_while_typing_on_one_line(addon: object) -> None:
    from screenwriter_llm import runtime

    state = runtime.get()
    source = load_screenplay("Big-Fish.fountain")
    source.cursor_set(2000, character=3)
    state.screenplay(source, now=10.0)
    assert state.reads.current_line(source, now=10.0) == 2000
    memo = state.reads.memo(source)
    for i, t in enumerate((10.1, 10.2, 10.3)):  # three keystrokes on line 2000
        source.cursor_set(2000, character=3 + i)
        source.write("x")
        source.cursor_set(2000, character=4 + i)
        state.screenplay(source, now=t)
        assert state.reads.current_line(source, now=t) == 2000 and memo.line_at is not None
    source.cursor_set(2500, character=0)  # a click elsewhere: another line
    state.screenplay(source, now=10.4)
    assert state.reads.current_line(source, now=10.4) == 2500 == source.current_line_index
    assert state.reads.current_line(source, now=10.41) == 2500
    state.screenplay(source, now=10.4 + runtime.PARSE_PAUSE + 0.01)  # the pause: read, parsed on the worker
    assert memo.line_at is None and state.reads.current_line(source, now=10.4 + runtime.PARSE_PAUSE + 0.02) == 2500


def test_a_keystroke_redraw_is_known_as_typing_and_the_next_full_read_is_not(addon: object) -> None:
    from screenwriter_llm import runtime

    state = runtime.get()
    source = load_screenplay("Brick-and-Steel.fountain")
    source.cursor_set(10, character=2)
    assert state.reads.read(source, now=100.0) is not None
    assert not state.reads.typing(source, now=100.0), "a read that copied the script is not typing"
    source.write("x")  # a keystroke: the cursor moves on
    assert state.reads.read(source, now=100.2) is None
    assert state.reads.typing(source, now=100.21), "the keystroke's redraw"
    assert not state.reads.typing(source, now=100.2 + runtime.READ_REUSE + 0.01), "only for that redraw"
    assert state.reads.read(source, now=101.0) is not None and not state.reads.typing(source, now=101.0)


def test_a_parse_that_fails_on_the_worker_raises_in_the_redraw_as_before(addon: object) -> None:
    from screenwriter_llm import runtime
    from screenwriter_llm.core.screenplay import fountain

    state = runtime.get()
    source = load_screenplay("Brick-and-Steel.fountain")
    first = state.screenplay(source, now=10.0)
    _type_heading(source, 5)
    assert state.screenplay(source, now=10.05) is first  # the keystroke's redraw
    original = fountain.parse

    def broken(text: str) -> fountain.Screenplay:
        time.sleep(0.2)  # still running when the redraw that gave it to the worker looks
        raise ValueError("parser broke")

    fountain.parse = broken  # type: ignore[assignment]
    try:
        after = 10.05 + runtime.PARSE_PAUSE + 0.01
        assert state.screenplay(source, now=after) is first
        state.background.join(30)
        with pytest.raises(ValueError, match="parser broke"):  # computed again here, where the error is seen
            state.screenplay(source, now=after + runtime.PARSE_POLL)
    finally:
        fountain.parse = original  # type: ignore[assignment]
    assert len(state.screenplay(source, now=after + 1.0).scenes) == len(first.scenes) + 1
