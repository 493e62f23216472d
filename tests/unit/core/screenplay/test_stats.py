"""Script statistics: headings split into setting, location and time; speakers normalised and counted; lengths and
runtime from eighths; checked on small scripts made here and on three real scripts read in place from
``shared/screenplays/`` (never copied)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from screenwriter_llm.core.screenplay.fountain import parse
from screenwriter_llm.core.screenplay.pages import PageLayout, paginate
from screenwriter_llm.core.screenplay.stats import ScriptStats, character_name, parse_heading, script_stats

REPO = Path(__file__).resolve().parents[4]
SHARED = Path(os.environ.get("SCREENWRITER_SHARED") or REPO.parent / "shared")
SCREENPLAYS = SHARED / "screenplays"
SCRIPT_NAMES = ["Big-Fish.fountain", "Brick-and-Steel.fountain", "The-Last-Birthday-Card.fountain"]


def _read(name: str) -> str:
    with open(SCREENPLAYS / name, encoding="utf-8", newline="") as handle:
        return handle.read()


@pytest.mark.parametrize(
    ("heading", "parts"),
    [
        ("INT. HOUSE - NIGHT", ("INT", "HOUSE", "NIGHT")),
        ("EXT. BRICK'S PATIO - DAY", ("EXT", "BRICK'S PATIO", "DAY")),
        ("INT./EXT.  BLOOM HOUSE - (PRESENT) DAY", ("INT/EXT", "BLOOM HOUSE", "DAY")),
        ("EXT./INT. CAR - MOVING - DAY", ("INT/EXT", "CAR - MOVING", "DAY")),
        ("I/E BUS - DUSK", ("INT/EXT", "BUS", "DUSK")),
        ("EST. CITY SKYLINE - DAWN", ("EXT", "CITY SKYLINE", "DAWN")),
        ("int. kitchen - morning", ("INT", "KITCHEN", "MORNING")),
        ("INT SCOTT'S APARTMENT, SAME TIME", ("INT", "SCOTT'S APARTMENT", "SAME TIME")),
        ("INT. HALLWAY, SCOTT'S BUILDING, A MOMENT LATER", ("INT", "HALLWAY, SCOTT'S BUILDING", "A MOMENT LATER")),
        ("INT.  WILL'S BEDROOM - NIGHT (1973)", ("INT", "WILL'S BEDROOM", "NIGHT")),
        ("EXT.  BLOOM BACK YARD - NIGHT [CONTINUOUS]", ("EXT", "BLOOM BACK YARD", "NIGHT")),
        ("EXT. BY THE RIVER - NIGHT - CONTINUOUS", ("EXT", "BY THE RIVER", "NIGHT")),
        ("EXT. CREEPY OLD HOUSE - THE GATE - NIGHT", ("EXT", "CREEPY OLD HOUSE - THE GATE", "NIGHT")),
        ("INT. LANDCRUISER, DRIVING -- A BIT LATER", ("INT", "LANDCRUISER, DRIVING", "A BIT LATER")),
        ("INT. TINY RESTAURANT (LA RUE 14°) - NIGHT", ("INT", "TINY RESTAURANT (LA RUE 14°)", "NIGHT")),
        ("EXT. TOWN OF SPECTRE - VARIOUS SHOTS", ("EXT", "TOWN OF SPECTRE - VARIOUS SHOTS", None)),
        ("INT.HOUSE", ("INT", "HOUSE", None)),
        ("INTERIOR DESIGN STUDIO - DAY", (None, "INTERIOR DESIGN STUDIO", "DAY")),
        ("SNIPER SCOPE POV", (None, "SNIPER SCOPE POV", None)),
        ("OUTSIDE,", (None, "OUTSIDE", None)),
    ],
)
def test_headings_split_into_setting_location_and_time(heading: str, parts: tuple[str | None, str, str | None]) -> None:
    split = parse_heading(heading)
    assert (split.setting, split.location, split.time_of_day) == parts


@pytest.mark.parametrize(
    ("cue", "name"),
    [
        ("JOHN", "JOHN"),
        ("JOHN (V.O.)", "JOHN"),
        ("john (cont'd)", "JOHN"),
        ("MARY (O.S.) (CONT'D)", "MARY"),
        ("BOB (CONT'D", "BOB"),
        ("@McCLANE", "MCCLANE"),
        ("STEEL ^", "STEEL"),
        ("  DR.   WHO  ", "DR. WHO"),
        ("(V.O.)", ""),
    ],
)
def test_cue_names_lose_extensions_and_case(cue: str, name: str) -> None:
    assert character_name(cue) == name


SCRIPT = """Title: Stats
Author: Test

INT. KITCHEN - NIGHT

Rain on the window.

BOB (V.O.)
One two three four five six seven eight nine ten eleven twelve.

MARY
(quietly)
Don't.

@Bob (CONT'D)
~Sing a song

~A lyric alone, sung by nobody in particular

EXT. GARDEN - DAY

BRICK
Hi.

STEEL ^
Hey.

INT. KITCHEN - LATER

@bob (O.S.)
No.

EXT. KITCHEN - NIGHT

Empty.
"""


@pytest.fixture(scope="module")
def stats() -> ScriptStats:
    return script_stats(SCRIPT)


def test_characters_are_counted_by_normalised_name(stats: ScriptStats) -> None:
    assert list(stats.characters) == ["BOB", "MARY", "BRICK", "STEEL"]
    bob = stats.characters["BOB"]
    assert (bob.name, bob.scenes, bob.speeches) == ("BOB", 2, 3)
    # 63 characters of dialogue wrap to 2 lines (36 wide); the lyric and "No." 1 each.
    assert bob.dialogue_lines == 4
    assert bob.words == 12 + 3 + 1
    mary = stats.characters["MARY"]
    assert (mary.scenes, mary.speeches, mary.dialogue_lines, mary.words) == (1, 1, 1, 1)  # "(quietly)" not spoken
    # Both sides of the dual dialogue speak.
    assert [(c.scenes, c.speeches, c.words) for c in (stats.characters["BRICK"], stats.characters["STEEL"])] == [
        (1, 1, 1),
        (1, 1, 1),
    ]


def test_scenes_carry_their_heading_parts_length_and_speakers(stats: ScriptStats) -> None:
    assert [(s.scene_number, s.setting, s.location, s.time_of_day) for s in stats.scenes] == [
        (1, "INT", "KITCHEN", "NIGHT"),
        (2, "EXT", "GARDEN", "DAY"),
        (3, "INT", "KITCHEN", "LATER"),
        (4, "EXT", "KITCHEN", "NIGHT"),
    ]
    assert [s.characters for s in stats.scenes] == [("BOB", "MARY"), ("BRICK", "STEEL"), ("BOB",), ()]
    assert [s.first_line for s in stats.scenes] == [4, 20, 28, 33]
    pagination = paginate(SCRIPT)
    assert [s.eighths for s in stats.scenes] == [scene.eighths for scene in pagination.scenes]
    assert all(s.seconds == s.eighths / 8 * 60.0 for s in stats.scenes)


def test_locations_gather_their_scenes_settings_and_times(stats: ScriptStats) -> None:
    assert list(stats.locations) == ["KITCHEN", "GARDEN"]
    kitchen = stats.locations["KITCHEN"]
    assert (kitchen.scenes, kitchen.settings, kitchen.times) == (3, ("INT", "EXT"), ("NIGHT", "LATER"))
    assert kitchen.eighths == sum(s.eighths for s in stats.scenes if s.location == "KITCHEN")


def test_pages_and_runtime_come_from_eighths(stats: ScriptStats) -> None:
    assert stats.eighths == sum(s.eighths for s in stats.scenes)  # nothing before the first heading
    assert stats.pages == stats.eighths / 8
    assert stats.page_count == 1
    assert stats.seconds_per_page == 60.0
    assert stats.runtime_seconds == stats.pages * 60.0

    slow = script_stats(SCRIPT, seconds_per_page=90.0)
    assert slow.runtime_seconds == pytest.approx(stats.runtime_seconds * 1.5)


def test_a_smaller_page_makes_a_longer_script() -> None:
    small = script_stats(SCRIPT, layout=PageLayout(lines_per_page=10))
    assert small.eighths > script_stats(SCRIPT).eighths
    assert small.page_count > 1


def test_seconds_per_page_must_be_positive() -> None:
    with pytest.raises(ValueError):
        script_stats(SCRIPT, seconds_per_page=0)


def test_an_empty_script_has_no_length() -> None:
    empty = script_stats("")
    assert (empty.pages, empty.page_count, empty.runtime_seconds, empty.scenes) == (0.0, 0, 0.0, ())
    assert empty.characters == {} and empty.locations == {}


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_real_scripts(name: str) -> None:
    text = _read(name)
    stats = script_stats(text)
    screenplay = parse(text)
    listed = json.loads((SCREENPLAYS / "scenes.json").read_text(encoding="utf-8"))[name]

    assert len(stats.scenes) == listed["scene_count"]
    assert [s.heading for s in stats.scenes] == [scene["heading"] for scene in listed["scenes"]]
    assert sum(place.scenes for place in stats.locations.values()) == len(stats.scenes)
    assert stats.pages == pytest.approx(stats.eighths / 8)
    assert stats.page_count == paginate(text).pages
    # Every cue core.screenplay.fountain finds is a speaker here (it does not look inside dual dialogue).
    cues = {character_name(name) for _, name in screenplay.cues}
    assert cues <= set(stats.characters)
    assert all("(" not in speaker and speaker == speaker.upper() for speaker in stats.characters)
    assert all(c.scenes >= 1 and c.speeches >= c.scenes and c.dialogue_lines >= 1 for c in stats.characters.values())


def test_big_fish_is_edward_s_story() -> None:
    stats = script_stats(_read("Big-Fish.fountain"))

    by_words = sorted(stats.characters.values(), key=lambda c: c.words, reverse=True)
    assert [c.name for c in by_words[:2]] == ["EDWARD", "WILL"]
    assert stats.locations["HOSPITAL ROOM"].settings == ("INT",)
    assert {"NIGHT", "DAY"} <= set(stats.locations["HOSPITAL ROOM"].times)
    settings = {s.setting for s in stats.scenes}
    assert settings == {"INT", "EXT", "INT/EXT"}
    # About two hours at a page a minute.
    assert 100 * 60 < stats.runtime_seconds < 140 * 60
