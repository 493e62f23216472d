"""Page timing: pagination rules on small scripts made here, and page counts of three real scripts against
afterwriting, a real Fountain-to-PDF paginator (the oracle, installed by ``scripts/bootstrap.sh --oracles``).

The real scripts are read in place from ``shared/screenplays/`` (``SCREENWRITER_SHARED`` or the folder beside the
repository), never copied.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from screenwriter_llm.core.screenplay.fountain import parse
from screenwriter_llm.core.screenplay.pages import (
    US_LETTER,
    PageLayout,
    Pagination,
    PrintedLine,
    eighths_of,
    format_eighths,
    paginate,
    printed_pages,
    wrap,
)

REPO = Path(__file__).resolve().parents[4]
SHARED = Path(os.environ.get("SCREENWRITER_SHARED") or REPO.parent / "shared")
SCREENPLAYS = SHARED / "screenplays"
SCRIPT_NAMES = ["Big-Fish.fountain", "Brick-and-Steel.fountain", "The-Last-Birthday-Card.fountain"]

AFTERWRITING = REPO / ".oracles" / "node_modules" / "afterwriting" / "awc.js"
# afterwriting's defaults except two: its default page is A4 (js/core/model/settings.js, print_profile "a4"), and it
# always prints a title page first (print_title_page), which is not a page of the script.
AFTERWRITING_SETTINGS = ("print_profile=usletter", "print_title_page=false")
SMALL = PageLayout(lines_per_page=10)


def _read(name: str) -> str:
    # newline="" keeps the file's own line endings (Brick-and-Steel mixes CRLF and LF).
    with open(SCREENPLAYS / name, encoding="utf-8", newline="") as handle:
        return handle.read()


def _kinds(page: Sequence[PrintedLine]) -> list[tuple[str, str]]:
    return [(line.kind, line.text) for line in page]


def _action(count: int) -> str:
    """``count`` one-line action paragraphs, each followed by a blank line."""
    return "".join(f"Action {number}.\n\n" for number in range(1, count + 1))


# --- Units -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("eighths", "text"),
    [(0, "0"), (1, "1/8"), (4, "4/8"), (7, "7/8"), (8, "1"), (9, "1 1/8"), (19, "2 3/8"), (16, "2"), (100, "12 4/8")],
)
def test_format_eighths_writes_whole_pages_and_unreduced_eighths(eighths: int, text: str) -> None:
    assert format_eighths(eighths) == text


def test_format_eighths_rejects_a_negative_length() -> None:
    with pytest.raises(ValueError):
        format_eighths(-1)


@pytest.mark.parametrize(
    ("lines", "eighths"),
    [(0, 1), (1, 1), (6, 1), (10, 1), (11, 2), (55, 8), (58, 8), (59, 9), (110, 16), (113, 16), (114, 17)],
)
def test_eighths_are_lines_over_a_page_eighth_to_the_nearest_at_least_one(lines: int, eighths: int) -> None:
    # 55 lines a page: an eighth is 6.875 lines; 10.3 lines is 1.5 eighths (rounds to 1), 11 is 1.6 (to 2).
    assert eighths_of(lines, 55) == eighths


def test_wrap_breaks_at_the_last_space_within_the_width() -> None:
    sixty_one = "x" * 30 + " " + "y" * 30
    assert wrap(sixty_one, 61) == [sixty_one]
    assert wrap(sixty_one + "z", 61) == ["x" * 30, "y" * 30 + "z"]
    assert wrap("a" * 70, 61) == ["a" * 61, "a" * 9]  # no space: cut at the width
    assert wrap("", 36) == [""]


def test_a_layout_with_no_room_is_refused() -> None:
    with pytest.raises(ValueError):
        PageLayout(lines_per_page=4)
    with pytest.raises(ValueError):
        PageLayout(dialogue_width=3)


# --- Lines of one page -------------------------------------------------------------------------------------------

SIMPLE = "INT. ROOM - DAY\n\nHe sits.\n\nBOB\nHello.\n"


def test_a_short_scene_takes_its_lines_with_one_blank_line_between_elements() -> None:
    pagination = paginate(SIMPLE)

    assert _kinds(printed_pages(SIMPLE)[0]) == [
        ("scene_heading", "INT. ROOM - DAY"),
        ("blank", ""),
        ("action", "He sits."),
        ("blank", ""),
        ("character", "BOB"),
        ("dialogue", "Hello."),
    ]
    assert pagination.pages == 1
    assert pagination.lines_per_page == US_LETTER.lines_per_page == 55
    assert pagination.page_lines == (6,)
    [scene] = pagination.scenes
    assert (scene.scene_number, scene.heading, scene.first_line, scene.lines, scene.eighths, scene.page) == (
        1,
        "INT. ROOM - DAY",
        1,
        6,
        1,
        1,
    )


def test_several_blank_lines_print_as_one() -> None:
    assert paginate(SIMPLE.replace("\n\n", "\n\n\n\n")).page_lines == (6,)


def test_the_title_page_is_not_a_page_of_the_script() -> None:
    titled = "Title: A Test\nCredit: by\nAuthor: Someone\nDraft date: today\n\n" + SIMPLE

    pagination = paginate(titled)

    assert pagination.pages == 1
    assert pagination.page_lines == (6,)
    assert pagination.scenes[0].first_line == 6


def test_notes_boneyard_sections_and_synopses_print_nothing() -> None:
    noisy = (
        "# ACT ONE\n\n= Where it starts.\n\n"
        "INT. ROOM - DAY\n[[a note under the heading]]\n\n"
        "He sits. [[an inline note long enough to push this action line past the sixty-one characters]]\n"
        "[[a note between two lines of one paragraph]]\n"
        "/* and a cut line,\n\nblank line and all */\n"
        "He stands.\n\n"
        "/* a cut scene, blank lines and all\n\nINT. GONE - NIGHT\n\nNobody sees this.\n*/\n\n"
        "## Sequence\n\n"
        "BOB\nHello.\n"
    )
    plain = "INT. ROOM - DAY\n\nHe sits.\nHe stands.\n\nBOB\nHello.\n"

    assert _kinds(printed_pages(noisy)[0]) == _kinds(printed_pages(plain)[0])
    assert paginate(noisy).page_lines == (7,)
    assert [scene.heading for scene in paginate(noisy).scenes] == ["INT. ROOM - DAY"]


def test_elements_wrap_at_their_own_widths() -> None:
    action = "word " * 12 + "end"  # 63 characters: 2 lines of action (61 wide)
    speech = "word " * 7 + "end"  # 38 characters: 2 lines of dialogue (36 wide)
    script = f"INT. ROOM - DAY\n\n{action}\n\nBOB\n{speech}\n\nBOB\n(very very quietly, to himself)\nYes.\n"

    kinds = [kind for kind, _ in _kinds(printed_pages(script)[0])]

    assert kinds == [
        "scene_heading",
        "blank",
        "action",
        "action",
        "blank",
        "character",
        "dialogue",
        "dialogue",
        "blank",
        "character",
        "parenthetical",  # 31 characters: 2 lines (26 wide)
        "parenthetical",
        "dialogue",
    ]


def test_centered_lyrics_transitions_and_forced_elements_take_their_lines() -> None:
    script = (
        "INT. ROOM - DAY\n\n"
        "> THE BAND PLAYS <\n> ALL NIGHT <\n\n"
        "BOB\n~Sing a song of sixpence, a pocket full of rye\n\n"  # 46: 2 lines sung in a speech
        "~Four and twenty blackbirds baked in a pie, all of them\n\n"  # a lyric alone: 1 line of action
        "!LOUD NOISES IN CAPITALS\n\n"
        "CUT TO:\n\n"
        ".THE FORCED HEADING\n\n"
        "@McCLANE\nYippee.\n"
    )

    pagination = paginate(script)

    assert _kinds(printed_pages(script)[0]) == [
        ("scene_heading", "INT. ROOM - DAY"),
        ("blank", ""),
        ("centered", "THE BAND PLAYS"),
        ("centered", "ALL NIGHT"),
        ("blank", ""),
        ("character", "BOB"),
        ("dialogue", "Sing a song of sixpence, a pocket"),
        ("dialogue", "full of rye"),
        ("blank", ""),
        ("action", "Four and twenty blackbirds baked in a pie, all of them"),
        ("blank", ""),
        ("action", "LOUD NOISES IN CAPITALS"),
        ("blank", ""),
        ("transition", "CUT TO:"),
        ("blank", ""),
        ("scene_heading", "THE FORCED HEADING"),
        ("blank", ""),
        ("character", "McCLANE"),
        ("dialogue", "Yippee."),
    ]
    assert [(scene.heading, scene.lines) for scene in pagination.scenes] == [
        ("INT. ROOM - DAY", 15),
        ("THE FORCED HEADING", 4),
    ]


def test_dual_dialogue_takes_the_lines_of_its_longer_side() -> None:
    script = "INT. ROOM - DAY\n\nBRICK\nHi.\n\nSTEEL ^\nHey.\nHey again.\nAnd again.\n\nThey nod.\n"

    page = _kinds(printed_pages(script)[0])

    assert page[2:6] == [
        ("character", "STEEL"),
        ("dialogue", "Hey."),
        ("dialogue", "Hey again."),
        ("dialogue", "And again."),
    ]
    assert paginate(script).page_lines == (8,)  # heading, blank, 4 of the pair, blank, action


# --- Page breaks -------------------------------------------------------------------------------------------------


def test_a_page_holds_lines_per_page_lines_at_most() -> None:
    script = "INT. ROOM - DAY\n\n" + "".join(f"Line {number}.\n" for number in range(1, 126))

    pagination = paginate(script)

    # 127 lines (heading, blank, 125 one-line action tokens) on 55-line pages.
    assert pagination.page_lines == (55, 55, 17)
    assert pagination.pages == 3


def test_a_scene_heading_is_not_left_at_the_foot_of_a_page() -> None:
    script = "INT. A - DAY\n\n" + _action(3) + "INT. B - DAY\n\nAction x.\nAction y.\n"
    # Lines: 0 heading A, 1, 2 Action 1, 3, 4 Action 2, 5, 6 Action 3, 7, 8 heading B, 9, 10 Action x, 11 Action y.

    for size in (9, 10):  # heading B is the page's last text line: it moves to the next page
        pages = printed_pages(script, PageLayout(lines_per_page=size))
        assert _kinds(pages[1])[0] == ("scene_heading", "INT. B - DAY"), size
        assert len(pages[0]) == 7

    # With 11 lines, heading B would have one line of its scene below it: afterwriting allows that, the product rule
    # (2 lines) moves the heading to the next page.
    eleven = PageLayout(lines_per_page=11)
    assert paginate(script, eleven).page_lines == (7, 4)
    assert [scene.page for scene in paginate(script, eleven).scenes] == [1, 2]
    afterwriting_rule = PageLayout(lines_per_page=11, min_lines_after_heading=1)
    assert paginate(script, afterwriting_rule).page_lines == (11, 1)


def test_a_long_heading_is_not_split_over_a_page() -> None:
    long_heading = "INT. THE VERY LONG AND WINDING CORRIDOR OF THE OLD OBSERVATORY - NIGHT"  # 70: 2 lines
    script = "INT. A - DAY\n\n" + _action(3) + long_heading + "\n\nAction x.\nAction y.\n"
    # 0 heading A, ..., 6 Action 3, 7, 8-9 the long heading: a 10-line page may not end inside it either.

    pages = printed_pages(script, SMALL)

    assert len(pages[0]) == 7
    assert [kind for kind, _ in _kinds(pages[1])[:2]] == ["scene_heading", "scene_heading"]


def test_dual_dialogue_is_never_split() -> None:
    script = "INT. A - DAY\n\n" + _action(2) + "BRICK\nL1.\nL2.\nL3.\nL4.\nL5.\n\nSTEEL ^\nHey.\n"

    pagination = paginate(script, SMALL)

    assert pagination.page_lines == (5, 6)  # the pair (6 lines: the left side is longer) moves whole


def test_dialogue_is_split_over_a_page_with_more_and_contd() -> None:
    script = "INT. A - DAY\n\nAction.\n\nBOB\n" + "".join(f"Line {number}.\n" for number in range(1, 7))

    pages = printed_pages(script, SMALL)
    pagination = paginate(script, SMALL)

    assert _kinds(pages[0])[-3:] == [("dialogue", "Line 3."), ("dialogue", "Line 4."), ("parenthetical", "(MORE)")]
    assert _kinds(pages[1]) == [
        ("character", "BOB (CONT'D)"),
        ("dialogue", "Line 5."),
        ("dialogue", "Line 6."),
    ]
    assert pagination.page_lines == (10, 3)
    assert pagination.scenes[0].lines == 13  # the (MORE) and (CONT'D) lines are the scene's


def test_dialogue_that_may_not_be_split_moves_whole_to_the_next_page() -> None:
    # The page's last lines would be the cue and one line of its speech: no split leaves one dialogue line
    # alone above (MORE), so the whole speech moves.
    script = "INT. A - DAY\n\n" + _action(3) + "BOB\nLine 1.\nLine 2.\nLine 3.\n"

    pages = printed_pages(script, SMALL)

    assert _kinds(pages[0])[-1] == ("action", "Action 3.")
    assert _kinds(pages[1]) == [
        ("character", "BOB"),
        ("dialogue", "Line 1."),
        ("dialogue", "Line 2."),
        ("dialogue", "Line 3."),
    ]
    assert all(line.text != "(MORE)" for page in pages for line in page)


def test_without_split_dialogue_a_long_speech_moves_whole() -> None:
    script = "INT. A - DAY\n\n" + _action(2) + "BOB\n" + "".join(f"Line {number}.\n" for number in range(1, 7))

    assert paginate(script, SMALL).page_lines == (10, 5)  # split: (MORE) and (CONT'D)
    assert paginate(script, PageLayout(lines_per_page=10, split_dialogue=False)).page_lines == (5, 7)


def test_a_page_with_no_allowed_break_is_cut_at_its_last_line() -> None:
    # A heading needs 2 lines below it, a speech may not be split: nothing on this page may end it.
    script = "INT. A - DAY\n\nAction.\n\nBOB\n" + "".join(f"Line {number}.\n" for number in range(1, 7))

    pagination = paginate(script, PageLayout(lines_per_page=10, split_dialogue=False))

    assert pagination.page_lines == (10, 1)


def test_a_transition_stays_with_the_line_before_it() -> None:
    script = "INT. A - DAY\n\n" + _action(3) + "Action 4.\n\nCUT TO:\n\nINT. B - DAY\n\nMore.\n"
    # Lines: 0 heading, 1, 2 A1, 3, 4 A2, 5, 6 A3, 7, 8 A4, 9, 10 CUT TO: -- with 10 lines, the page may not end
    # after Action 4 (the transition would open the next page), so it ends after Action 3.

    pages = printed_pages(script, SMALL)

    assert _kinds(pages[0])[-1] == ("action", "Action 3.")
    assert _kinds(pages[1])[:3] == [("action", "Action 4."), ("blank", ""), ("transition", "CUT TO:")]


def test_short_action_is_not_split_and_long_action_keeps_two_lines_together() -> None:
    three = " ".join(["word"] * 36)  # 179 characters: 3 lines of action
    script = "INT. A - DAY\n\n" + _action(3) + three + "\n"
    # 0 heading, 1, 2 A1, 3, 4 A2, 5, 6 A3, 7, 8-10 the 3-line action: a 10-line page may not end inside it.

    pages = printed_pages(script, SMALL)

    assert len(pages[0]) == 7
    assert len(pages[1]) == 3


def test_a_forced_page_break_ends_the_page() -> None:
    script = "INT. A - DAY\n\nBefore.\n\n===\n\nAfter.\n"

    pages = printed_pages(script)

    assert [_kinds(page) for page in pages] == [
        [("scene_heading", "INT. A - DAY"), ("blank", ""), ("action", "Before.")],
        [("action", "After.")],
    ]


def test_an_empty_script_has_no_pages() -> None:
    for text in ("", "\n\n", "Title: Nothing\nAuthor: Nobody\n\n", "[[just a note]]\n\n/* and a bone */\n"):
        pagination = paginate(text)
        assert (pagination.pages, pagination.scenes, pagination.eighths) == (0, (), 0)


# --- Real scripts ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def paginated() -> dict[str, Pagination]:
    return {name: paginate(_read(name)) for name in SCRIPT_NAMES}


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_scenes_are_the_scenes_of_core_screenplay_fountain(name: str, paginated: dict[str, Pagination]) -> None:
    scenes = parse(_read(name)).scenes

    got = [(scene.scene_number, scene.heading, scene.first_line) for scene in paginated[name].scenes]
    assert got == [(scene.number, scene.heading, scene.start_line + 1) for scene in scenes]


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_eighths_add_up_to_about_the_page_count(name: str, paginated: dict[str, Pagination]) -> None:
    pagination = paginated[name]
    size = pagination.lines_per_page
    printed = pagination.opening_lines + sum(scene.lines for scene in pagination.scenes)
    parts = len(pagination.scenes) + (1 if pagination.opening_lines else 0)

    assert printed == sum(pagination.page_lines)
    assert max(pagination.page_lines) <= size
    assert printed > (pagination.pages - 1) * size * 0.8  # pages are mostly full
    # Each scene owns its lines and the empty foot of a page it ends, rounded to the nearest eighth (at least one):
    # the eighths add up to the pages the scenes cover, within half an eighth a scene.
    covered = (pagination.pages - 1) * 8 + (pagination.page_lines[-1] - pagination.opening_lines) * 8 / size
    assert abs(pagination.eighths - covered) <= parts / 2 + 1
    assert all(scene.eighths >= 1 for scene in pagination.scenes)
    assert abs(pagination.eighths / 8 - pagination.pages) <= 0.02 * pagination.pages + 1
    print(f"{name}: {pagination.pages} pages, {format_eighths(pagination.eighths)} pages in eighths")


# --- The oracle --------------------------------------------------------------------------------------------------


def _oracle_missing(what: str) -> str:
    return f"{what}: run `scripts/bootstrap.sh --oracles` (it installs afterwriting 1.17.3 into .oracles/)"


def _pdf_pages(pdf: Path) -> tuple[int, tuple[float, float]]:
    """Page count and first page size (points) of ``pdf``: with pypdf (this interpreter's, else .venv's), else with
    poppler's pdfinfo; fails when none of them works."""
    script = (
        "import sys, pypdf\n"
        "reader = pypdf.PdfReader(sys.argv[1])\n"
        "box = reader.pages[0].mediabox\n"
        "print(len(reader.pages), float(box.width), float(box.height))\n"
    )
    venv_python = REPO / ".venv" / "bin" / "python"
    if importlib.util.find_spec("pypdf") is not None:
        import pypdf

        reader = pypdf.PdfReader(str(pdf))
        box = reader.pages[0].mediabox
        return len(reader.pages), (float(box.width), float(box.height))
    if venv_python.exists():
        done = subprocess.run([str(venv_python), "-c", script, str(pdf)], capture_output=True, text=True, check=False)
        if done.returncode == 0:
            count, width, height = done.stdout.split()
            return int(count), (float(width), float(height))
    pdfinfo = shutil.which("pdfinfo")
    if pdfinfo is None:
        pytest.fail(_oracle_missing("cannot count PDF pages: no pypdf in this interpreter or .venv, and no pdfinfo"))
    info = subprocess.run([pdfinfo, str(pdf)], capture_output=True, text=True, check=True).stdout
    pages = re.search(r"^Pages:\s+(\d+)", info, re.M)
    size = re.search(r"^Page size:\s+([\d.]+) x ([\d.]+)", info, re.M)
    assert pages and size, info
    return int(pages.group(1)), (float(size.group(1)), float(size.group(2)))


def _afterwriting_pages(source: Path, pdf: Path) -> int:
    node = shutil.which("node")
    if node is None:
        pytest.fail(_oracle_missing("no node on PATH"))
    if not AFTERWRITING.is_file():
        pytest.fail(_oracle_missing(f"afterwriting is not installed ({AFTERWRITING.relative_to(REPO)} is missing)"))
    command = [node, str(AFTERWRITING), "--source", str(source), "--pdf", str(pdf), "--overwrite"]
    for setting in AFTERWRITING_SETTINGS:
        command += ["--setting", setting]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False, stdin=subprocess.DEVNULL)
    # afterwriting exits 0 even when it cannot read its source: the PDF is the proof.
    assert done.returncode == 0 and pdf.is_file(), f"afterwriting failed:\n{done.stdout}\n{done.stderr}"
    pages, size = _pdf_pages(pdf)
    assert size == (612.0, 792.0), f"afterwriting's PDF is not US Letter: {size} points"
    return pages


@pytest.fixture(scope="module")
def oracle_pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    folder = tmp_path_factory.mktemp("afterwriting")
    return {name: _afterwriting_pages(SCREENPLAYS / name, folder / f"{name}.pdf") for name in SCRIPT_NAMES}


def _within_tolerance(ours: int, oracle: int) -> bool:
    """Within 2 % of the oracle's count; within one page for scripts under 20 pages."""
    if oracle < 20:
        return abs(ours - oracle) <= 1
    return abs(ours - oracle) <= 0.02 * oracle


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_page_count_agrees_with_afterwriting(
    name: str, paginated: dict[str, Pagination], oracle_pages: dict[str, int]
) -> None:
    ours, oracle = paginated[name].pages, oracle_pages[name]
    print(f"{name}: {ours} pages here, {oracle} pages by afterwriting 1.17.3 (US Letter, no title page)")
    assert _within_tolerance(ours, oracle), f"{name}: {ours} pages here, afterwriting {oracle}"


def test_the_oracle_comparison_catches_a_wrong_layout(oracle_pages: dict[str, int]) -> None:
    # A4's 57 lines, or a 50-line page, would be caught on the feature-length script.
    big_fish = _read("Big-Fish.fountain")
    oracle = oracle_pages["Big-Fish.fountain"]
    for layout in (PageLayout(lines_per_page=57), PageLayout(lines_per_page=50)):
        assert not _within_tolerance(paginate(big_fish, layout).pages, oracle), layout
    assert _within_tolerance(oracle, oracle)
