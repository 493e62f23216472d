"""core.tasks.grounding on real screenplays: scripted answers whose fabricated quotations are reported, and
only those; true quotations written the way models write them (other case, curly marks and apostrophes,
dashes, dropped punctuation, across dialogue lines and parentheticals) are found; notes anchor to lines."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from screenwriter_llm.core.tasks.grounding import (
    GroundingReport,
    Quote,
    ScriptIndex,
    check_quotes,
    find_quotes,
    line_of_quote,
    words,
)

REPO = Path(__file__).resolve().parents[4]
SHARED = Path(os.environ.get("SCREENWRITER_SHARED") or REPO.parent / "shared")
SCRIPTS = ("Brick-and-Steel.fountain", "The-Last-Birthday-Card.fountain", "Big-Fish.fountain")


def script(name: str) -> str:
    # newline="" keeps the file's own CRLF/LF mix: the module must cope with it.
    with open(SHARED / "screenplays" / name, encoding="utf-8", newline="") as file:
        return file.read()


@pytest.fixture(scope="module")
def brick() -> str:
    text = script("Brick-and-Steel.fountain")
    assert "\r\n" in text  # the mixed line endings are part of the test
    return text


@pytest.fixture(scope="module")
def big_fish() -> str:
    return script("Big-Fish.fountain")


# True quotations, each written differently from the script, with the line where each starts.
TRUE_BRICK = {
    "does a bear crap in the woods": 26,  # other case, final "?" dropped
    "Are they cold?": 23,  # exactly three words
    "sitting quietly, contemplating — something": 15,  # "--" in the script
    "They’re coming out of the woodwork! No, everybody we’ve put away!": 74,  # curly apostrophes, "(pause)" skipped
    "Then let's retire them. Permanently.": 62,  # two dialogue lines, tab-indented, "_Permanently_." in the script
    "did you know Brick and Steel are retired": 59,  # "*...*" emphasis in the script
    "And then there's a long beat. Longer than is funny.": 39,  # an action paragraph across a line break
    "But mercifully we…": 65,  # "..." in the script
    "last smash and grab": 55,  # "smash-and-grab"
    "Steel's face FILLS the Leupold Mark 4 scope": 82,  # nested "_..._" and "*...*"
}
# Fabrications: one word changed (twice), a word dropped, one made up.
FAKE_BRICK = [
    "Does a bear sleep in the woods?",
    "Then let's retire them. Temporarily.",
    "They're coming out of woodwork!",
    "I never liked retirement anyway.",
]


def test_fabricated_quotes_are_reported_and_only_those(brick: str) -> None:
    answer = (
        "## Notes on the opening\n\n"
        f'Steel\'s “{FAKE_BRICK[0]}” is a misquote: the joke "{list(TRUE_BRICK)[0]}" lands because Brick '
        f'asked “{list(TRUE_BRICK)[1]}” first. Brick is "{list(TRUE_BRICK)[2]}".\n\n'
        + "\n".join(f'- "{quote}"' for quote in list(TRUE_BRICK)[3:])
        + "\n\n"
        + "\n".join(f"- “{quote}”" for quote in FAKE_BRICK[1:])
        + '\n\nShort quotes such as "To retirement." and “Screw retirement.” are not checked.\n'
    )
    report = check_quotes(answer, brick)

    assert [quote.text for quote in report.found] == list(TRUE_BRICK)
    assert [quote.text for quote in report.missing] == FAKE_BRICK
    assert report.summary() == (
        f"Quotes checked: {len(TRUE_BRICK)} of {len(TRUE_BRICK) + len(FAKE_BRICK)} found in the script.\n"
        + "\n".join(f"Not found in the script: “{quote}”" for quote in FAKE_BRICK)
    )


@pytest.mark.parametrize(("quote", "line"), TRUE_BRICK.items())
def test_a_true_quote_anchors_to_the_line_where_it_starts(brick: str, quote: str, line: int) -> None:
    assert line_of_quote(quote, brick) == line
    assert brick.replace("\r\n", "\n").split("\n")[line - 1].strip()  # a real, non-blank line


@pytest.mark.parametrize("quote", FAKE_BRICK)
def test_a_fabricated_quote_has_no_line(brick: str, quote: str) -> None:
    assert line_of_quote(quote, brick) is None


def test_feature_length_script_quotes(big_fish: str) -> None:
    index = ScriptIndex(big_fish)
    answer = (
        # Lines 36-38: dialogue across a parenthetical, with and without it; then the same with a word changed.
        "“All I knew was I’d been trying to catch that fish since I was a boy no bigger than you. "
        "And on the day you were born, that was the day I finally caught him.” "
        '"since I was a boy no bigger than you. (closer) And on the day you were born" '
        '"And on the day you were born, that was the day I finally lost him." '
        # Line 45: "peanut butter-and-cheese"; line 61: "--" asides.
        '"worms, lures, peanut butter, peanut butter and cheese" '
        '"strong enough to hold up a bridge, they said, if just for a few minutes — and I cast upriver" '
        # Line 29, across two sentences, with a missing word ("the").
        '"Some said that fish was ghost of Henry Walls"'
    )
    report = check_quotes(answer, index)
    assert [q.text[:20] for q in report.found] == [
        "All I knew was I’d b",
        "since I was a boy no",
        "worms, lures, peanut",
        "strong enough to hol",
    ]
    assert [q.text for q in report.missing] == [
        "And on the day you were born, that was the day I finally lost him.",
        "Some said that fish was ghost of Henry Walls",
    ]
    assert [line_of_quote(q, index) for q in report.found] == [36, 36, 45, 61]


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_scene_heading_is_found_on_its_line(name: str) -> None:
    """Line numbers agree with shared/screenplays/scenes.json (CRLF/LF mix, forced headings, boneyard rules)."""
    text = script(name)
    index = ScriptIndex(text)
    scenes = json.loads((SHARED / "screenplays" / "scenes.json").read_text(encoding="utf-8"))[name]["scenes"]
    for scene in scenes:
        assert index.find(scene["heading"], first_line=scene["line"]) == scene["line"], scene


def test_bounds_pick_the_occurrence_within_a_scene(brick: str) -> None:
    assert line_of_quote("To retirement", brick) == 32
    assert line_of_quote("To retirement", brick, first_line=33) == 35
    assert line_of_quote("To retirement", brick, first_line=33, last_line=34) is None
    assert line_of_quote("Screw retirement", brick, last_line=45) is None
    assert line_of_quote("Screw retirement", brick, first_line=40, last_line=46) == 46


def test_notes_and_boneyard_are_not_the_script() -> None:
    text = (
        "INT. KITCHEN - NIGHT\n\nMARY\nWe should leave tonight. [[Make her say this louder]]\n\n"
        "/* MARY\nI never loved this house. */\n\n[[An earlier model's note:\nthe pacing drags here]]\n"
    )
    report = check_quotes(
        '"We should leave tonight." "Make her say this louder" "I never loved this house" "the pacing drags here"',
        text,
    )
    assert [q.text for q in report.found] == ["We should leave tonight."]
    assert len(report.missing) == 3
    # A line after a multi-line note keeps its number.
    assert line_of_quote("We should leave tonight", text + "\nWe should leave tonight, she says.") == 4


def test_find_quotes_offsets_and_what_is_not_a_quotation() -> None:
    answer = (
        'He says "we should go now" twice.\n'
        'A 12" vinyl sleeve, then “curly quotes work too” and “mixed marks also count".\n'
        'Two words: "not enough". Code is skipped: `"a b c d"` and\n'
        '```json\n{"description": "three words here"}\n```\n'
        '"An open quote that never closes\n\nacross a paragraph" ends.\n'
        "“First stray “then a real one here” done."
    )
    quotes = find_quotes(answer)
    assert [q.text for q in quotes] == [
        "we should go now",
        "curly quotes work too",
        "mixed marks also count",
        "then a real one here",
    ]
    for quote in quotes:
        assert answer[quote.start : quote.end] == quote.text
        assert answer[quote.start - 1] in '"“' and answer[quote.end] in '"”'


def test_a_quote_across_lines_of_the_answer_is_one_line_in_the_summary(brick: str) -> None:
    report = check_quotes('"Does a bear\n   sleep in the woods"', brick)
    assert report.summary() == (
        "Quotes checked: 0 of 1 found in the script.\nNot found in the script: “Does a bear sleep in the woods”"
    )


def test_summary_without_quotations_and_with_all_found(brick: str) -> None:
    assert check_quotes("No quotations here, only “two words”.", brick).summary() == (
        "Quotes checked: no quotations of three words or more."
    )
    assert check_quotes("", "").summary() == "Quotes checked: no quotations of three words or more."
    assert check_quotes("“Are they cold?”", brick).summary() == "Quotes checked: 1 of 1 found in the script."
    assert GroundingReport().checked == 0


def test_empty_script_finds_nothing() -> None:
    report = check_quotes('"anything at all here"', "")
    assert report.missing == [Quote("anything at all here", 1, 21)]
    assert line_of_quote("", "some words here") is None


def test_words_normalisation() -> None:
    assert words("Beer’s *ready* -- isn't it…") == ["beer's", "ready", "isn't", "it"]
    # NFKC: full-width letters, a no-break space.
    assert words("ＦＵＬＬ\u00a0Retired—ＮＯＷ") == ["full", "retired", "now"]
    assert words("un*real* _Permanently_.") == ["unreal", "permanently"]
