"""Scene finding in Fountain screenplays, checked against real scripts and their scene lists.

The expected headings and line numbers come from ``shared/screenplays/scenes.json`` (made
independently of this code, following Fountain 1.1); the scripts are read in place, never copied.
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

import pytest

from screenwriter_llm.core.screenplay.fountain import Screenplay, _title, normalize, parse

REPO = Path(__file__).resolve().parents[4]
SHARED = Path(os.environ.get("SCREENWRITER_SHARED") or REPO.parent / "shared")
SCREENPLAYS = SHARED / "screenplays"
SAMPLE = REPO / "samples" / "night-ferry.fountain"


def _expected() -> dict[str, dict]:
    return json.loads((SCREENPLAYS / "scenes.json").read_text(encoding="utf-8"))


SCRIPT_NAMES = sorted(_expected())


def _read(name: str) -> str:
    # newline="" keeps the file's own line endings (Brick-and-Steel mixes CRLF and LF).
    with open(SCREENPLAYS / name, encoding="utf-8", newline="") as handle:
        return handle.read()


@pytest.fixture(scope="module")
def expected() -> dict[str, dict]:
    return _expected()


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_headings_and_lines_match_the_scene_list(name: str, expected: dict[str, dict]) -> None:
    screenplay = parse(_read(name))

    got = [(scene.start_line + 1, scene.heading) for scene in screenplay.scenes]
    want = [(scene["line"], scene["heading"]) for scene in expected[name]["scenes"]]
    assert got == want
    assert len(got) == expected[name]["scene_count"]
    assert [scene.number for scene in screenplay.scenes] == list(range(1, len(want) + 1))


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_heading_line_holds_the_heading(name: str) -> None:
    screenplay = parse(_read(name))

    for scene in screenplay.scenes:
        assert scene.heading in screenplay.lines[scene.start_line]


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_each_scene_ends_on_the_line_before_the_next_heading(name: str) -> None:
    text = _read(name)
    screenplay = parse(text)
    scenes = screenplay.scenes

    # The lines are those of the file itself (as Blender's Text.lines would hold them).
    assert len(screenplay.lines) == normalize(text).count("\n") + 1
    for scene, following in itertools.pairwise(scenes):
        assert scene.end_line == following.start_line - 1
    assert scenes[-1].end_line == len(screenplay.lines) - 1


@pytest.mark.parametrize("name", SCRIPT_NAMES)
@pytest.mark.parametrize("newline", ["\r\n", "\r"], ids=["crlf", "cr"])
def test_line_endings_and_bom_do_not_move_scenes(name: str, newline: str) -> None:
    plain = parse(_read(name))
    variant_text = "\ufeff" + normalize(_read(name)).replace("\n", newline)
    variant = parse(variant_text)

    assert "\r" in variant_text
    assert variant.scenes == plain.scenes
    assert variant.lines == plain.lines
    assert variant.title == plain.title


def test_scene_at_line_at_scene_boundaries() -> None:
    screenplay = parse(_read("The-Last-Birthday-Card.fountain"))
    first, second = screenplay.scenes[0], screenplay.scenes[1]
    last = screenplay.scenes[-1]

    assert screenplay.scene_at_line(0) is None  # title page
    assert screenplay.scene_at_line(first.start_line - 1) is None
    assert screenplay.scene_at_line(first.start_line) == first
    assert screenplay.scene_at_line(first.end_line) == first
    assert screenplay.scene_at_line(second.start_line) == second
    assert screenplay.scene_at_line(len(screenplay.lines) - 1) == last
    assert screenplay.scene_at_line(len(screenplay.lines)) is None
    assert screenplay.scene_at_line(-1) is None


def test_scene_at_line_covers_every_line_of_every_scene() -> None:
    screenplay = parse(_read("Brick-and-Steel.fountain"))

    for scene in screenplay.scenes:
        found = {screenplay.scene_at_line(index) for index in range(scene.start_line, scene.end_line + 1)}
        assert found == {scene}


def test_scene_text_is_the_scene_lines_from_the_heading() -> None:
    text = _read("Brick-and-Steel.fountain")
    screenplay = parse(text)
    file_lines = normalize(text).split("\n")

    for scene in screenplay.scenes:
        scene_text = screenplay.scene_text(scene)
        assert scene_text.split("\n") == file_lines[scene.start_line : scene.end_line + 1]
    # Together the scenes hold everything after the text before the first heading.
    joined = "\n".join(screenplay.scene_text(scene) for scene in screenplay.scenes)
    assert joined == "\n".join(file_lines[screenplay.scenes[0].start_line :])


def test_title_page_title_without_markup() -> None:
    # Title: followed by two indented lines, each wrapped in _**...**_ emphasis.
    assert parse(_read("Brick-and-Steel.fountain")).title == "BRICK & STEEL FULL RETIRED"
    assert parse(_read("Big-Fish.fountain")).title == "Big Fish"


def test_sample_script_parses_with_title_and_scenes() -> None:
    text = SAMPLE.read_text(encoding="utf-8")
    screenplay = parse(text)

    assert screenplay.title == "NIGHT FERRY"
    assert 5 <= len(screenplay.scenes) <= 7
    forced = [scene for scene in screenplay.scenes if screenplay.lines[scene.start_line].startswith(".")]
    assert len(forced) == 1
    assert not forced[0].heading.startswith(".")
    assert screenplay.scene_at_line(0) is None


# Small scripts for the rules a writer would notice going wrong in the scene list.


def _script(*lines: str) -> str:
    return "\n".join(lines)


def _headings(screenplay: Screenplay) -> list[tuple[int, str]]:
    return [(scene.start_line, scene.heading) for scene in screenplay.scenes]


def test_heading_must_stand_alone_between_blank_lines() -> None:
    text = _script(
        "INT. KITCHEN - DAY",  # 0: first line, blank after -> heading
        "",
        "She reads the label aloud:",
        "EXT. GARDEN - NIGHT",  # 3: no blank line before -> action
        "",
        "EXT. ROOF - NIGHT",  # 5: action follows directly -> action
        "Wind.",
        "",
        "int. cellar - later",  # 8: lower case is fine
        "",
        "I/E VAN - MOVING",  # 10
        "",
        "INTERCUT WITH THE PHONE CALL",  # 12: INT not followed by '.' or space
        "",
        "EST. HARBOUR - DAWN",  # 14: last line
    )
    assert _headings(parse(text)) == [
        (0, "INT. KITCHEN - DAY"),
        (8, "int. cellar - later"),
        (10, "I/E VAN - MOVING"),
        (14, "EST. HARBOUR - DAWN"),
    ]


def test_forced_headings_and_scene_numbers() -> None:
    text = _script(
        ".FLASHBACK - 1999",
        "",
        "...and then nothing.",
        "",
        "..SNOW",
        "",
        "INT./EXT. CAR - NIGHT #12A#",
        "",
        ".MONTAGE #3#",
    )
    assert _headings(parse(text)) == [(0, "FLASHBACK - 1999"), (6, "INT./EXT. CAR - NIGHT"), (8, "MONTAGE")]


def test_boneyard_hides_headings_but_keeps_line_numbers() -> None:
    text = _script(
        "INT. OFFICE - DAY",
        "",
        "/* cut for time:",
        "",
        "EXT. CAR PARK - DAY",
        "",
        "*/",
        "",
        "EXT. STREET - NIGHT",
    )
    screenplay = parse(text)

    assert _headings(screenplay) == [(0, "INT. OFFICE - DAY"), (8, "EXT. STREET - NIGHT")]
    # The comment itself stays in the lines, as the writer sees them in the editor.
    assert "EXT. CAR PARK - DAY" in screenplay.scene_text(screenplay.scenes[0])


def test_title_page_holds_no_headings() -> None:
    text = "Title: EXT. NOWHERE\nAuthor: Someone\n\nINT. SOMEWHERE - DAY\n\nAction.\n"
    screenplay = parse(text)

    assert screenplay.title == "EXT. NOWHERE"
    assert _headings(screenplay) == [(3, "INT. SOMEWHERE - DAY")]
    # A trailing newline gives an empty last line, as in Blender's Text.lines.
    assert screenplay.lines[-1] == ""
    assert screenplay.scenes[-1].end_line == len(screenplay.lines) - 1


def test_text_without_title_page_or_headings() -> None:
    screenplay = parse("A man walks into a bar.\n\nHe orders a pint.")

    assert screenplay.title is None
    assert screenplay.scenes == ()
    assert screenplay.scene_at_line(0) is None
    assert parse("").lines == ("",)


def test_characters_in_a_scene_in_order_of_first_line_without_extensions() -> None:
    text = _script(
        "INT. KITCHEN - DAY",  # 0
        "",
        "BRICK (V.O.)",  # 2: the extension goes
        "Coffee?",
        "",
        "STEEL (CONT'D)",  # 5
        "No.",
        "",
        "BRICK",  # 8: a second cue of BRICK adds no name
        "Tea, then.",
        "",
        "EXT. GARDEN - NIGHT",  # 11
        "",
        "@McCLANE",  # 13: a forced cue, mixed case
        "Yippee.",
        "",
        "STEEL",  # 16
        "Quiet.",
    )
    screenplay = parse(text)
    kitchen, garden = screenplay.scenes

    assert screenplay.cues == ((2, "BRICK"), (5, "STEEL"), (8, "BRICK"), (13, "McCLANE"), (16, "STEEL"))
    assert screenplay.characters_in(kitchen) == ["BRICK", "STEEL"]
    assert screenplay.characters_in(garden) == ["McCLANE", "STEEL"]
    silent = parse(_script("INT. EMPTY ROOM - DAY", "", "Nobody speaks."))
    assert silent.characters_in(silent.scenes[0]) == []


@pytest.mark.xfail(
    strict=True,
    reason="fountain-py folds a dual-dialogue pair (cue ending in ^) into one DUAL_DIALOGUE element, "
    "whose two cues parse() does not read: both speakers are missing from cues",
)
def test_both_speakers_of_dual_dialogue_are_characters_of_the_scene() -> None:
    screenplay = parse(_script("INT. KITCHEN - DAY", "", "BRICK", "Tea.", "", "STEEL ^", "Quiet.", ""))

    assert screenplay.characters_in(screenplay.scenes[0]) == ["BRICK", "STEEL"]


def test_characters_in_every_scene_of_a_real_script_come_from_its_own_lines() -> None:
    screenplay = parse(_read("Brick-and-Steel.fountain"))

    every = [name for scene in screenplay.scenes for name in screenplay.characters_in(scene)]
    assert {"BRICK", "STEEL"} <= set(every)
    for scene in screenplay.scenes:
        names = screenplay.characters_in(scene)
        assert len(names) == len(set(names))
        for name in names:  # each name stands on a cue line of that scene
            assert any(
                screenplay.lines[line].strip().lstrip("@").startswith(name)
                and scene.start_line <= line <= scene.end_line
                for line, cue in screenplay.cues
                if cue == name
            )


@pytest.mark.parametrize(
    ("title_page", "title"),
    [
        ("Title: \\*Star\\* _Under_ **Bold**", "*Star* Under Bold"),  # escaped markers stay, markup goes
        ("Title: **  **", None),  # only markup and spaces: no title
        ("Title:", None),
        ("Author: Nobody", None),  # a title page without a title
    ],
)
def test_title_markup_escapes_and_empty_titles(title_page: str, title: str | None) -> None:
    assert parse(_script(title_page, "", "INT. ROOM - DAY", "", "Action.")).title == title


def test_a_title_given_as_a_list_of_lines_is_joined() -> None:
    # fountain-py's metadata values may be lists (of elements, in a document it reads back); each item's text
    # counts as a line of the title.
    assert _title({"title": ["_**BRICK & STEEL**_", "_**FULL RETIRED**_"]}) == "BRICK & STEEL FULL RETIRED"
    assert _title({"title": []}) is None
    assert _title({}) is None
