"""core.tasks.proposal: a proposal Text's body, the writer's edits, Apply that changes exactly its range (and
refuses when the range changed), notes that keep a real screenplay's structure; seeded random edge cases."""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path

import pytest

from screenwriter_llm.core.screenplay import fountain
from screenwriter_llm.core.tasks.proposal import (
    Proposal,
    RangeChanged,
    apply,
    content_range,
    hash_lines,
    make_proposal,
    notes_insertion,
    proposal_text,
    proposed_from_text,
)

REPO = Path(__file__).resolve().parents[4]
SHARED = Path(os.environ.get("SCREENWRITER_SHARED") or REPO.parent / "shared")

SCENE = "INT. KITCHEN - NIGHT\n\nMARY\nWe should leave.\n\nJOHN\nNot tonight.\n"


def brick(newline: str | None = None) -> str:
    with open(SHARED / "screenplays" / "Brick-and-Steel.fountain", encoding="utf-8", newline=newline) as file:
        return file.read()


def test_hash_lines_is_sha256_of_the_exact_lines() -> None:
    assert hash_lines(["a", "b "]) == hashlib.sha256(b"a\nb ").hexdigest()
    assert hash_lines([]) == hashlib.sha256(b"").hexdigest()
    assert hash_lines(["a", ""]) != hash_lines(["a"])
    assert hash_lines(["a\r"]) != hash_lines(["a"])


def test_proposal_text_holds_the_proposal_then_the_diff() -> None:
    p = make_proposal("Kitchen.fountain", SCENE, 6, 7, "JOHN\n(quietly)\nNot tonight, Mary.\n\n")
    assert p == Proposal("Kitchen.fountain", 6, 7, hash_lines(["JOHN", "Not tonight."]), p.proposed)
    assert proposal_text(p, SCENE) == (
        "JOHN\n(quietly)\nNot tonight, Mary.\n"
        "\n"
        "--- Diff against lines 6-7 of Kitchen.fountain ---\n"
        "--- Kitchen.fountain (current)\n"
        "+++ Kitchen.fountain (proposed)\n"
        "@@ -6,2 +6,4 @@\n"
        " JOHN\n"
        "-Not tonight.\n"
        "+(quietly)\n"
        "+Not tonight, Mary.\n"
        "+\n"
    )


def test_an_insertion_says_where_it_inserts() -> None:
    p = make_proposal("Kitchen.fountain", SCENE, 5, 4, "She picks up her keys.\n")
    assert p.is_insertion
    body = proposal_text(p, SCENE)
    assert body.startswith("She picks up her keys.\n\n--- Inserts at line 5 of Kitchen.fountain ---\n")
    assert "@@ -4,0 +5 @@\n+She picks up her keys.\n" in body
    assert apply(p, SCENE, proposed_from_text(body)) == (
        "INT. KITCHEN - NIGHT\n\nMARY\nWe should leave.\nShe picks up her keys.\n\nJOHN\nNot tonight.\n"
    )


def test_unchanged_and_deleting_proposals() -> None:
    same = make_proposal("K", SCENE, 3, 4, "MARY\nWe should leave.")
    assert proposal_text(same, SCENE).endswith("--- Diff against lines 3-4 of K ---\n(no changes)\n")
    delete = make_proposal("K", SCENE, 3, 5, "")
    body = proposal_text(delete, SCENE)
    assert body.startswith("--- Diff against lines 3-5 of K ---\n")
    assert proposed_from_text(body) == ""
    assert apply(delete, SCENE, "") == "INT. KITCHEN - NIGHT\n\nJOHN\nNot tonight.\n"


def test_the_writers_edit_of_the_proposal_text_is_what_gets_applied() -> None:
    p = make_proposal("Kitchen.fountain", SCENE, 4, 4, "We should go.")
    body = proposal_text(p, SCENE)
    edited = body.replace("We should go.\n", "We should go. Now.\n\n\n", 1)
    assert proposed_from_text(edited) == "We should go. Now."
    assert apply(p, SCENE, proposed_from_text(edited)) == SCENE.replace("We should leave.", "We should go. Now.")
    # The separator deleted too: the whole body is the proposal.
    assert proposed_from_text("Just this.\n  \n") == "Just this."
    # An indented or trailing-space separator still counts.
    assert proposed_from_text("A\n--- Inserts at line 3 of K ---  \n+A\n") == "A"


def test_apply_on_a_real_script_changes_only_the_range_byte_for_byte() -> None:
    text = brick(newline="")  # CRLF and LF mixed, as the file is
    lines = text.split("\n")
    assert lines[25] == "Does a bear crap in the woods?\r"
    p = make_proposal("Brick-and-Steel.fountain", text, 26, 26, "Is the Pope Catholic?")
    new = apply(p, text, p.proposed)
    start = text.index("Does a bear")
    assert new == text[:start] + "Is the Pope Catholic?" + text[text.index("\n", start) :]


def test_range_changed_refuses_and_says_so() -> None:
    p = make_proposal("Kitchen.fountain", SCENE, 3, 4, "MARY\nWe go.")
    with pytest.raises(RangeChanged) as caught:
        apply(p, SCENE.replace("We should leave.", "We should leave now."), "MARY\nWe go.")
    message = str(caught.value)
    assert "Lines 3-4 of Kitchen.fountain changed since the proposal was made" in message
    assert "nothing was changed" in message and "Run the task again" in message
    assert (caught.value.source, caught.value.first_line, caught.value.last_line) == ("Kitchen.fountain", 3, 4)
    # A line added above the range shifts it: refused as well.
    with pytest.raises(RangeChanged):
        apply(p, "New first line.\n" + SCENE, "MARY\nWe go.")
    # The script now ends before the range.
    with pytest.raises(RangeChanged):
        apply(p, "INT. KITCHEN - NIGHT\n", "MARY\nWe go.")
    # Lines changed elsewhere do not matter.
    assert apply(p, SCENE.replace("Not tonight.", "Never."), "MARY\nWe go.").endswith("JOHN\nNever.\n")


def test_an_insertion_is_refused_when_the_line_before_it_changed() -> None:
    p = make_proposal("K", SCENE, 5, 4, "She picks up her keys.")
    with pytest.raises(RangeChanged, match="around line 5 of K"):
        apply(p, "\n" + SCENE, p.proposed)
    top = make_proposal("K", SCENE, 1, 0, "Title: Kitchen\n")
    assert apply(top, "Anything else.", top.proposed) == "Title: Kitchen\nAnything else."


@pytest.mark.parametrize(
    ("text", "first", "last", "proposed", "expected"),
    [
        ("", 1, 0, "A", "A\n"),  # an empty text has one empty line; insert before it
        ("", 2, 1, "A", "\nA"),  # ... or after it
        ("", 1, 1, "A", "A"),  # replace it
        ("a\nb", 2, 2, "c", "a\nc"),  # last line without a newline stays without one
        ("a\nb", 3, 2, "c", "a\nb\nc"),  # insertion at the very end
        ("a\nb\n", 3, 2, "c", "a\nb\nc\n"),  # insertion at the last, empty line: the usual append
        ("a\nb\n", 4, 3, "c", "a\nb\n\nc"),  # insertion after that empty line
        ("a\nb\n", 1, 2, "x\ny\nz\n", "x\ny\nz\n"),  # one trailing newline of the proposal is ignored
        ("a\nb\n", 1, 1, "\n", "\nb\n"),  # "\n" is one empty line
    ],
)
def test_edges(text: str, first: int, last: int, proposed: str, expected: str) -> None:
    assert apply(make_proposal("T", text, first, last, proposed), text, proposed) == expected


@pytest.mark.parametrize(("first", "last"), [(0, 0), (2, 0), (1, 3), (4, 3), (3, 1)])
def test_make_proposal_refuses_a_range_outside_the_script(first: int, last: int) -> None:
    with pytest.raises(ValueError, match="not a range of T, which has 2 lines"):
        make_proposal("T", "a\nb", first, last, "x")


def test_random_scripts_and_ranges() -> None:
    """Seeded property checks: identity, exact replacement, the rest preserved, changes in range refused."""
    rng = random.Random(20260501)
    pieces = ["", "INT. HOUSE - DAY", "MARY", "(beat)", "Hello there.", "  ", "\t\tCUT TO:", "é — “quoted”", "\r"]
    for _ in range(2000):
        lines = [rng.choice(pieces) for _ in range(rng.randint(0, 12))]
        text = "\n".join(lines) + rng.choice(["", "\n"])
        real = text.split("\n")
        first = rng.randint(1, len(real) + 1)
        last = rng.randint(first - 1, len(real))
        original = "\n".join(real[first - 1 : last])

        # Applying the range's own lines gives the text back (one trailing newline is always ignored).
        same = make_proposal("T", text, first, last, original)
        if last >= first:
            assert apply(same, text, original + "\n") == text
            if real[last - 1] != "":
                assert apply(same, text, original) == text

        proposed = "\n".join(rng.choice(pieces) for _ in range(rng.randint(0, 4)))
        p = make_proposal("T", text, first, last, proposed)
        new = apply(p, text, proposed)
        kept_before = "\n".join(real[: first - 1])
        kept_after = "\n".join(real[last if last >= first else first - 1 :])
        inserted = [] if proposed == "" else proposed.removesuffix("\n").split("\n")
        assert new == "\n".join(real[: first - 1] + inserted + real[max(last, first - 1) :])
        assert new.startswith(kept_before) and new.endswith(kept_after)

        # Any change to a checked line is refused.
        checked = range(first - 1, last) if last >= first else range(first - 2, first - 1)
        if len(checked) and checked.start >= 0:
            changed = list(real)
            index = rng.choice(list(checked))
            changed[index] += "!"
            with pytest.raises(RangeChanged):
                apply(p, "\n".join(changed), proposed)


def test_proposal_round_trip_of_the_body() -> None:
    rng = random.Random(7)
    for _ in range(300):
        proposed = "\n".join(rng.choice(["A", "B  ", "", "(beat)", "--- not a separator ---"]) for _ in range(6))
        p = make_proposal("T", SCENE, 2, 3, proposed)
        lines = proposed.split("\n")
        while lines and not lines[-1].strip():
            lines.pop()
        assert proposed_from_text(proposal_text(p, SCENE)) == "\n".join(lines)


def test_notes_go_after_their_lines() -> None:
    text = "INT. KITCHEN - NIGHT\n\nMARY\nWe should leave.\nRight now.\n\nShe goes.\n"
    new = notes_insertion(
        text,
        [
            (4, "Too direct]]; try subtext"),
            (None, "Whole scene:\n  slow\tstart"),
            (3, "On the cue"),
            (4, "Second note"),
            (7, "[[x]"),
        ],
        scene_heading_line=1,
    )
    assert new == (
        "INT. KITCHEN - NIGHT\n"
        "\n"
        "[[Whole scene: slow start]]\n"  # a paragraph of its own: the heading still has a blank line after it
        "\n"
        "MARY\n"
        "We should leave.\n"
        "[[Too direct] ]; try subtext]]\n"  # inside the dialogue block
        "[[Second note]]\n"
        "Right now.\n"
        "[[On the cue]]\n"  # a cue must be followed by its dialogue: after the speech instead
        "\n"
        "She goes.\n"
        "\n"
        "[[ [ [x] ]]\n"  # after a one-line paragraph: a paragraph of its own
    )


def test_notes_on_a_real_script_keep_every_heading_and_cue() -> None:
    text = brick().replace("\r\n", "\n")
    before = fountain.parse(text)
    lines = text.split("\n")
    notes: list[tuple[int | None, str]] = [(n, f"note on {n}") for n, line in enumerate(lines, 1) if line.strip()]
    new = text
    for scene in reversed(before.scenes):  # bottom-up, so earlier line numbers stay valid
        in_scene = [(n, t) for n, t in notes if n is not None and scene.start_line < n <= scene.end_line + 1]
        new = notes_insertion(new, [*in_scene, (None, f"scene {scene.number}")], scene.start_line + 1)
    after = fountain.parse(new)
    assert [s.heading for s in after.scenes] == [s.heading for s in before.scenes]
    assert [name for _, name in after.cues] == [name for _, name in before.cues]
    # Taking the inserted lines out gives the script back.
    kept = [line for line in new.split("\n") if not line.startswith("[[")]
    assert [line for line in kept if line] == [line for line in lines if line]


def test_content_range_drops_blank_lines_at_the_ends() -> None:
    text = brick().replace("\r\n", "\n")
    scene = fountain.parse(text).scenes[0]  # EXT. BRICK'S PATIO: lines 13-52, 52 is blank
    assert content_range(text, scene.start_line + 1, scene.end_line + 1) == (13, 51)
    assert content_range(SCENE, 2, 2) == (2, 1)
    assert content_range(SCENE, 2, 5) == (3, 4)
    # A scene rewritten over its content range keeps the blank line before the next heading.
    first, last = content_range(text, scene.start_line + 1, scene.end_line + 1)
    new = apply(make_proposal("B", text, first, last, "EXT. PATIO - DAY\n\nShorter."), text, "EXT. PATIO - DAY")
    assert [s.heading for s in fountain.parse(new).scenes][:2] == ["EXT. PATIO - DAY", "INT. TRAILER HOME - DAY"]


def test_notes_insertion_refuses_lines_outside_the_script() -> None:
    with pytest.raises(ValueError, match="Line 9 is not a line of the script, which has 2 lines"):
        notes_insertion("a\nb", [(9, "x")], 1)
    with pytest.raises(ValueError):
        notes_insertion("a\nb", [], 3)
    assert notes_insertion("a\nb", [], 1) == "a\nb"
