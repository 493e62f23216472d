"""The writer's toolset (issue 11) through real bpy, real LiteLLM and the loopback server: every built-in task, user
tasks, proposals (apply exactly the range, refuse a changed one), notes, grounding, the map-reduce coverage report
on Big Fish within an 8,192-token window, and the exports."""

from __future__ import annotations

import json
from pathlib import Path

import bpy
import pytest

from screenwriter_llm import api, runtime, toolset
from screenwriter_llm.core.screenplay import fountain
from tests.blender.conftest import ADDON, configure, load_screenplay
from tests.provider_server import synthetic

END = 2**31 - 1
BRICK = "Brick-and-Steel.fountain"


def _scene_span(source: bpy.types.Text, number: int) -> tuple[int, int]:
    """0-based first and last line of scene ``number``."""
    scene = fountain.parse(source.as_string()).scenes[number - 1]
    return scene.start_line, scene.end_line


def _user_content(request) -> str:
    return "\n".join(m["content"] for m in request.body["messages"])


def test_every_built_in_task_is_listed_once_by_its_label(addon):
    listed = {t.id: t.label for t in toolset.menu_tasks()}
    assert set(listed) >= {
        "analyze_scene", "beat_sheet", "character_arc", "continue_scene", "coverage_report", "format_check",
        "logline_synopsis", "punch_up", "rewrite",
    }
    assert listed["rewrite"] == "Rewrite Selection" and listed["punch_up"] == "Punch Up"
    from screenwriter_llm.ui.menus import SCREENWRITER_MT_tasks

    assert SCREENWRITER_MT_tasks.bl_idname in dir(bpy.types)


def test_punch_up_proposes_the_scene_and_apply_replaces_exactly_its_range(server, received):
    configure("openai/gpt-4o-mini", server.api_base("openai"))
    source = load_screenplay(BRICK)
    before = source.as_string()
    first, last = _scene_span(source, 1)
    proposed = "EXT. BRICK'S PATIO - DAY\n\nSTEEL\nCold beer. Colder retirement."
    server.enqueue("openai", synthetic(text=f"```fountain\n{proposed}\n```"))
    assert bpy.ops.screenwriter.run_task(task="punch_up", text=source.name, scene=1) == {"FINISHED"}
    [request] = received()
    assert "Beer's ready!" in _user_content(request), "the scene went out as the passage"
    assert source.as_string() == before, "a proposal never changes the script by itself"
    name = "Brick-and-Steel - Scene 1 Punch Up"
    prop = bpy.data.texts[name]
    body = prop.as_string()
    assert body.startswith(proposed + "\n\n--- Diff against lines ")
    stored = json.loads(prop["screenwriter_proposal"])
    assert stored["source"] == source.name and stored["first_line"] == first + 1
    assert bpy.ops.screenwriter.apply_proposal(proposal=name) == {"FINISHED"}
    lines_before = before.split("\n")
    after = source.as_string().split("\n")
    new_last = stored["last_line"]
    assert after[: first] == lines_before[: first]
    assert after[first : first + 4] == proposed.split("\n")
    assert after[first + 4 :] == lines_before[new_last:], "everything after the range is kept as it was"


def test_regenerating_a_proposal_makes_it_a_proposal_again(server, received):
    configure("openai/gpt-4o-mini", server.api_base("openai"))
    source = load_screenplay(BRICK)
    server.enqueue("openai", synthetic(text="EXT. BRICK'S PATIO - DAY\n\nFirst try."),
                   synthetic(text="EXT. BRICK'S PATIO - DAY\n\nSecond try."))
    bpy.ops.screenwriter.run_task(task="punch_up", text=source.name, scene=1)
    name = "Brick-and-Steel - Scene 1 Punch Up"
    first = json.loads(bpy.data.texts[name]["screenwriter_proposal"])
    assert bpy.ops.screenwriter.regenerate(output=name) == {"FINISHED"}
    body = bpy.data.texts[name].as_string()
    assert body.startswith("EXT. BRICK'S PATIO - DAY\n\nSecond try.\n\n--- Diff against lines ")
    assert json.loads(bpy.data.texts[name]["screenwriter_proposal"]) == first
    assert bpy.ops.screenwriter.apply_proposal(proposal=name) == {"FINISHED"}
    assert "Second try." in source.as_string() and "Beer's ready!" not in source.as_string()


def test_rewrite_uses_the_selection_and_the_instruction_and_applies_the_edited_proposal(server, received):
    configure("openai/gpt-4o-mini", server.api_base("openai"))
    source = load_screenplay(BRICK)
    lines = source.as_string().split("\n")
    start = lines.index("STEEL")  # "STEEL / Beer's ready!"
    source.select_set(start, 0, start + 1, END)
    server.enqueue("openai", synthetic(text="STEEL\nBeers. Cold ones."))
    assert bpy.ops.screenwriter.run_task(task="rewrite", instruction="Make it terser") == {"FINISHED"}
    [request] = received()
    content = _user_content(request)
    assert "Make it terser" in content and "Beer's ready!" in content
    name = f"Brick-and-Steel - Rewrite Selection Lines {start + 1}-{start + 2}"
    prop = bpy.data.texts[name]
    # The writer edits the proposal before applying it: the edit is what goes in.
    prop.from_string(prop.as_string().replace("Beers. Cold ones.", "Beers. Ice cold."))
    assert bpy.ops.screenwriter.apply_proposal(proposal=name) == {"FINISHED"}
    after = source.as_string().split("\n")
    assert after[start : start + 2] == ["STEEL", "Beers. Ice cold."]
    assert after[: start] == lines[: start] and after[start + 2 :] == lines[start + 2 :]


def test_rewrite_needs_a_selection_and_an_instruction(server, received):
    configure("openai/gpt-4o-mini", server.api_base("openai"))
    source = load_screenplay(BRICK)
    with pytest.raises(RuntimeError, match="needs an instruction"):
        bpy.ops.screenwriter.run_task(task="rewrite", text=source.name)
    with pytest.raises(RuntimeError, match="Select the lines"):
        bpy.ops.screenwriter.run_task(task="rewrite", text=source.name, instruction="Shorter")
    assert received() == []


def test_apply_refuses_a_changed_range_and_changes_nothing(server, received):
    configure("openai/gpt-4o-mini", server.api_base("openai"))
    source = load_screenplay(BRICK)
    server.enqueue("openai", synthetic(text="EXT. BRICK'S PATIO - DAY\n\nA new scene."))
    bpy.ops.screenwriter.run_task(task="punch_up", text=source.name, scene=1)
    edited = source.as_string().replace("Beer's ready!", "Beer's ready, partner!")
    source.from_string(edited)
    with pytest.raises(RuntimeError, match="changed"):
        bpy.ops.screenwriter.apply_proposal(proposal="Brick-and-Steel - Scene 1 Punch Up")
    assert source.as_string() == edited


def test_continue_scene_proposes_an_insertion_after_the_cursors_paragraph(server, received):
    configure("openai/gpt-4o-mini", server.api_base("openai"))
    source = load_screenplay(BRICK)
    lines = source.as_string().split("\n")
    cue = lines.index("BRICK")  # "BRICK / Are they cold?"
    source.cursor_set(cue, character=0)
    server.enqueue("openai", synthetic(text="STEEL\nColder than your ex."))
    assert bpy.ops.screenwriter.run_task(task="continue_scene", text=source.name) == {"FINISHED"}
    [request] = received()
    assert "Are they cold?" in _user_content(request).split("continue from its last line")[1]
    name = "Brick-and-Steel - Scene 1 Continue Scene"
    assert "--- Inserts at line" in bpy.data.texts[name].as_string()
    bpy.ops.screenwriter.apply_proposal(proposal=name)
    after = source.as_string().split("\n")
    assert after[cue : cue + 5] == ["BRICK", "Are they cold?", "", "STEEL", "Colder than your ex."]
    assert after[cue + 5 :] == lines[cue + 2 :]


@pytest.mark.parametrize(
    ("task", "output", "needle"),
    [
        ("logline_synopsis", "Brick-and-Steel - Logline and Synopsis", "SCENE 8"),
        ("beat_sheet", "Brick-and-Steel - Beat Sheet", "Save the Cat"),
    ],
)
def test_whole_script_answers(server, received, task, output, needle):
    configure("openai/gpt-4o-mini", server.api_base("openai"))
    source = load_screenplay(BRICK)
    server.enqueue("openai", synthetic(text="# Logline\nTwo retired cops un-retire.\n"))
    answer = api.run_task(task, source)
    assert answer.ok and answer.name == output
    assert bpy.data.texts[output].as_string().startswith("# Logline\nTwo retired cops")
    [request] = received()
    assert needle in _user_content(request) and "SCENE 1\nEXT. BRICK'S PATIO" in _user_content(request)


def test_character_arc_is_grounded_and_reports_only_the_fabricated_quote(server, received):
    configure("openai/gpt-4o-mini", server.api_base("openai"))
    source = load_screenplay(BRICK)
    server.enqueue("openai", synthetic(text=(
        "# Want and Need\nSteel toasts: \"Beer's ready!\" and later says “Does a bear crap in the woods?” "
        "but never \"I miss the badge every day\".\n"
    )))
    answer = api.run_task("character_arc", source, character="Steel")
    text = bpy.data.texts[answer.name].as_string()
    assert answer.name == "Brick-and-Steel - Steel Character Arc"
    [request] = received()
    assert "Character: STEEL" in _user_content(request) and "Does a bear crap in the woods?" in _user_content(request)
    assert text.endswith(
        "Quotes checked: 1 of 2 found in the script.\nNot found in the script: “I miss the badge every day”\n"
    )
    assert "Beer's ready" not in text.split("Quotes checked:")[1], "a real quote is not reported"


def test_analyze_scene_keeps_its_text_verbatim_and_stores_the_grounding(server, received):
    configure("openai/gpt-4o-mini", server.api_base("openai"))
    source = load_screenplay(BRICK)
    reply = "1. Purpose: a toast.\n7. Suggestions:\n- Cut \"Longer than is funny.\" or make it land.\n"
    server.enqueue("openai", synthetic(text=reply))
    assert bpy.ops.screenwriter.analyze_scene(text=source.name, scene=1, output="An") == {"FINISHED"}
    assert bpy.data.texts["An"].as_string() == reply
    grounding = json.loads(bpy.data.texts["An"]["screenwriter_grounding"])
    assert grounding["checked"] == 1 and grounding["found"] == 1 and grounding["missing"] == []


def test_insert_notes_puts_each_note_after_the_line_it_quotes(server, received):
    configure("openai/gpt-4o-mini", server.api_base("openai"))
    source = load_screenplay(BRICK)
    reply = (
        "1. Purpose: a toast.\n7. Suggestions:\n"
        "- Let \"Longer than is funny.\" breathe: hold the silence.\n"
        "- Open on the beers, not the weather.\n"
    )
    server.enqueue("openai", synthetic(text=reply))
    bpy.ops.screenwriter.analyze_scene(text=source.name, scene=1, output="Notes Src")
    before = source.as_string().split("\n")
    heading = _scene_span(source, 1)[0]
    assert bpy.ops.screenwriter.insert_notes(answer="Notes Src") == {"FINISHED"}
    after = source.as_string().split("\n")
    quoted = before.index("Longer than is funny.")
    assert after[heading + 1 : heading + 3] == ["", "[[Open on the beers, not the weather.]]"]
    shift = 2
    assert after[quoted + shift] == "Longer than is funny."
    assert after[quoted + shift + 1] == "[[Let \"Longer than is funny.\" breathe: hold the silence.]]"
    kept = [line for i, line in enumerate(after) if not line.startswith("[[") and not (i == heading + 1)]
    assert kept == before


def test_format_check_lists_the_parsers_findings_without_a_model(server, received):
    configure("openai/gpt-4o-mini", server.api_base("openai"))
    text = bpy.data.texts.new("format.fountain")
    text.from_string(
        "INT. KITCHEN - DAY\n\nMARY\nHello.\n\nMary\nAgain.\n\n(beat)\n\nint kitchen - night\nShe sits.\n\n"
        "EXT. ROAD - DAY\n\nMARY\nBye.\n"
    )
    answer = api.run_task("format_check", text)
    body = bpy.data.texts[answer.name].as_string()
    assert answer.name == "format - Format Check"
    assert "Line 6: the character cue 'Mary' is not in capitals; write 'MARY'" in body
    assert "Line 9: the parenthetical '(beat)'" in body
    assert "Line 11: 'int kitchen - night' looks like a scene heading" in body
    assert received() == [], "no model was asked"
    server.enqueue("openai", synthetic(text="Capitalise MARY's cue."))
    notes = api.run_task("format_check", text, model_notes=True)
    assert notes.name == "format - Format Check Notes" and notes.content == "Capitalise MARY's cue."
    [request] = received()
    assert "Line 6: the character cue 'Mary'" in _user_content(request)


def test_a_user_task_runs_and_a_broken_one_is_reported_with_file_and_line(server, received, tmp_path):
    configure("openai/gpt-4o-mini", server.api_base("openai"))
    bpy.context.preferences.addons[ADDON].preferences.tasks_folder = str(tmp_path)
    try:
        (tmp_path / "villain_check.md").write_text(
            '+++\nid = "villain_check"\nlabel = "Villain Check"\ndescription = "Is the villain scary?"\n'
            'scope = "scene"\noutput = "answer"\ncontext = ["title", "scene"]\n+++\n\n# System\n\nBe brief.\n\n'
            "# User\n\nScene $scene_number: $scene_text\n",
            encoding="utf-8",
        )
        (tmp_path / "broken.md").write_text(
            '+++\nid = "broken"\nlabel = "Broken"\ndescription = "x"\nscope = "scene"\noutput = "answer"\n'
            'context = ["scene"]\n+++\n\n# System\n\nUses $nothing here.\n',
            encoding="utf-8",
        )
        runtime.get()._tasks = None
        source = load_screenplay(BRICK)
        server.enqueue("openai", synthetic(text="Scary enough."))
        answer = api.run_task("villain_check", source, 2)
        assert answer.ok and answer.content == "Scary enough."
        assert answer.name == "Brick-and-Steel - Scene 2 Villain Check"
        assert "villain_check" in {t.id for t in toolset.menu_tasks()}
        with pytest.raises(RuntimeError, match=r"broken\.md, line 12: the placeholder \$nothing"):
            bpy.ops.screenwriter.run_task(task="broken", text=source.name)
    finally:
        bpy.context.preferences.addons[ADDON].preferences.tasks_folder = ""
        runtime.get()._tasks = None


COVERAGE = (
    "# Logline\nA son chases the truth behind his father's tall tales.\n\n# Synopsis\nEdward Bloom dies.\n\n"
    "# Comments\nWarm.\n\n# Ratings\n| Premise | Excellent |\n\n# Verdict\nRecommend\n"
)


def test_coverage_report_on_big_fish_fits_an_8k_window_covers_every_scene_and_resumes(server, received):
    import litellm

    configure("openai/gpt-4-0613", server.api_base("openai"))
    source = load_screenplay("Big-Fish.fountain")
    screenplay = fountain.parse(source.as_string())
    server.set_default("openai", synthetic(text=COVERAGE))
    try:
        answer = api.run_task("coverage_report", source)
        requests = received()
        assert answer.ok and answer.name == "Big-Fish - Coverage Report"
        sizes = [
            litellm.token_counter(model="gpt-4-0613", messages=r.body["messages"]) + int(r.body["max_tokens"])
            for r in requests
        ]
        print(f"coverage_report: {len(requests)} requests, max prompt+completion {max(sizes)} of 8192: {sizes}")
        assert max(sizes) <= 8192
        sent = "\n".join(_user_content(r) for r in requests[:-1])
        for scene in screenplay.scenes:
            for line in screenplay.scene_text(scene).split("\n"):
                assert line in sent, f"scene {scene.number}'s line {line!r} was in no request"
        report = bpy.data.texts[answer.name].as_string()
        for section in ("# Logline", "# Synopsis", "# Comments", "# Ratings", "# Verdict", "Quotes checked:"):
            assert section in report
        first_run = len(requests)

        again = api.run_task("coverage_report", source)
        assert again.ok and len(received()) == first_run + 1, "a re-run sends only the synthesis"

        scene = screenplay.scenes[40]
        lines = source.as_string().split("\n")
        lines[scene.start_line + 2] += " An edit."
        source.from_string("\n".join(lines))
        api.run_task("coverage_report", source)
        assert len(received()) == first_run + 3, "the edited scene's group is summarised again, then the synthesis"
    finally:
        server.clear_queues()


def test_exports_carry_the_metadata_and_the_disclosure(server, received, tmp_path):
    configure("openai/gpt-4o-mini", server.api_base("openai"))
    source = load_screenplay(BRICK)
    server.enqueue("openai", synthetic(text="# Logline\nTwo retired cops **un-retire**.\n"))
    answer = api.run_task("logline_synopsis", source)
    for fmt, ext in (("MARKDOWN", "md"), ("HTML", "html"), ("PDF", "pdf")):
        path = tmp_path / f"answer.{ext}"
        assert bpy.ops.screenwriter.export_answer(text=answer.name, filepath=str(path), format=fmt) == {"FINISHED"}
        if fmt == "PDF":
            content = _pdf_text(path)
        else:
            content = path.read_text(encoding="utf-8")
        assert "Written with AI assistance (openai/gpt-4o-mini)" in content
        assert "Two retired cops" in content and "Logline and Synopsis" in content
        assert "BRICK & STEEL" in content.replace("&amp;", "&").replace("\\&", "&")
        assert "Tokens" in content and "Cost" in content and "Date" in content


def _pdf_text(path) -> str:
    """The PDF's text, extracted with pypdf (from the main venv's Python when this one has no pypdf)."""
    try:
        from pypdf import PdfReader
    except ImportError:
        import subprocess
        import sys

        from tests.blender.conftest import REPO

        python = REPO / ".venv" / "bin" / "python"
        script = (
            "import sys; from pypdf import PdfReader; "
            "print('\\n'.join(p.extract_text() for p in PdfReader(sys.argv[1]).pages))"
        )
        assert python.exists() and python.resolve() != Path(sys.executable).resolve(), "pypdf is needed"
        return subprocess.run([str(python), "-c", script, str(path)], check=True, capture_output=True, text=True).stdout
    return "\n".join(page.extract_text() for page in PdfReader(str(path)).pages)


def test_sections_are_found_as_an_answer_arrives():
    assert toolset.sections("# Logline\nx\nSTRENGTHS:\n- a\n## Verdict\nnot a HEADING:\n") == [
        (0, "Logline"), (2, "STRENGTHS:"), (4, "Verdict"),
    ]


def test_suggestions_are_the_list_items_after_the_suggestions_heading():
    answer = "1. Purpose: x\n- not this\n7. Suggestions:\n- one\n  more\n2. two\n\nQuotes checked: 1 of 1\n"
    assert toolset.suggestions(answer) == ["one more", "two"]
