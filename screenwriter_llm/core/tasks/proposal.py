"""Proposals: the model suggests, the writer decides. A proposal never overwrites the screenplay by itself.

Pure Python (never imports ``bpy``). A proposal replaces a range of lines of a screenplay Text (or inserts
lines at one place). The task's answer goes into a separate *proposal Text* (:func:`proposal_text`): the
proposed Fountain, which the writer may edit, above a diff against the current lines. The screenplay
changes only when the writer applies it (:func:`apply`, one undo step in the operator), and only if the
range still holds what the proposal was made from (DESIGN.md, "Rules that keep it correct").

Lines
    A text's lines are ``text.split("\\n")``, exactly as Blender's ``Text.lines``: 1-based here, so line
    ``k`` is ``Text.lines[k - 1]``; a text ending in ``"\\n"`` has an empty last line, and an empty text has
    one empty line. A range is ``first_line..last_line``, both 1-based and inclusive. An **insertion** at
    line ``k`` is the empty range ``first_line=k, last_line=k-1``: the new lines go before line ``k``;
    ``k = len(lines) + 1`` appends after the last line. (To add lines at the end of a text that ends in a
    newline, insert at its last, empty line: ``"a\\nb\\n"`` + insertion at 3 of ``"c"`` gives
    ``"a\\nb\\nc\\n"``.)

Line endings
    Blender's Text datablocks hold ``"\\n"`` only (they convert CRLF when a file is loaded), so that is the
    one line break written here. Given a CRLF text anyway, nothing outside the range changes (each line
    keeps its ``"\\r"``, which is part of its hash), and the proposed lines are inserted as given.

Proposed text
    A sequence of lines joined by ``"\\n"``: one trailing newline is ignored (``"A\\nB\\n"`` is two lines),
    ``""`` is no lines at all (applying it deletes the range), ``"\\n"`` is one empty line.

Checks (what :func:`apply` compares)
    ``original_hash`` is :func:`hash_lines` of the range's lines when the proposal was made. For an
    insertion, whose range is empty, it covers the line the insertion follows (line ``k - 1``), so lines
    added or removed above the insertion point are noticed too; an insertion at line 1 has nothing to check.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "Proposal",
    "RangeChanged",
    "apply",
    "content_range",
    "hash_lines",
    "make_proposal",
    "notes_insertion",
    "proposal_text",
    "proposed_from_text",
]

_SEPARATOR = re.compile(r"^--- (?:Diff against lines \d+-\d+|Inserts at line \d+) of .* ---$")
_HUNK = re.compile(r"^@@ -(\d+)(,\d+)? \+(\d+)(,\d+)? @@$")


class RangeChanged(Exception):
    """The lines a proposal replaces are no longer what it was made from (or no longer exist).

    Nothing was changed; the writer should run the task again. ``str(error)`` is the message to show.

    Attributes:
        source: The screenplay Text's name.
        first_line: The proposal's first line (1-based).
        last_line: The proposal's last line (1-based, inclusive; ``first_line - 1`` for an insertion).
    """

    def __init__(self, source: str, first_line: int, last_line: int) -> None:
        self.source = source
        self.first_line = first_line
        self.last_line = last_line
        if last_line < first_line:
            where = f"The lines around line {first_line} of {source}"
        else:
            where = f"Lines {first_line}-{last_line} of {source}"
        super().__init__(
            f"{where} changed since the proposal was made, so nothing was changed. "
            "Run the task again to get a proposal for the current text."
        )


@dataclass(frozen=True)
class Proposal:
    """A suggested replacement of lines ``first_line..last_line`` of the Text named ``source``.

    Attributes:
        source: The screenplay Text's name (Blender ID name).
        first_line: 1-based first line of the range.
        last_line: 1-based last line, inclusive; ``first_line - 1`` for an insertion before ``first_line``.
        original_hash: :func:`hash_lines` of the checked lines when the proposal was made (see the module
            docstring: the range, or for an insertion the line before it).
        proposed: The proposed Fountain text, as the model gave it.
    """

    source: str
    first_line: int
    last_line: int
    original_hash: str
    proposed: str

    @property
    def is_insertion(self) -> bool:
        """True when the range is empty: the proposal inserts lines before ``first_line``."""
        return self.last_line < self.first_line


def hash_lines(lines: Sequence[str]) -> str:
    """SHA-256 (hex) of ``lines`` joined with ``"\\n"``, encoded as UTF-8: the exact characters, no normalising."""
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def _lines(text: str) -> list[str]:
    return text.split("\n")


def _proposed_lines(proposed: str) -> list[str]:
    return [] if proposed == "" else proposed.removesuffix("\n").split("\n")


def _valid(lines: Sequence[str], first_line: int, last_line: int) -> bool:
    return 1 <= first_line <= last_line + 1 <= len(lines) + 1


def _checked(lines: Sequence[str], first_line: int, last_line: int) -> list[str]:
    """The lines whose hash guards the range: the range itself, or the line an insertion follows."""
    if last_line < first_line:
        return list(lines[first_line - 2 : first_line - 1])
    return list(lines[first_line - 1 : last_line])


def content_range(script_text: str, first_line: int, last_line: int) -> tuple[int, int]:
    """The range without the blank lines at its ends: what a proposal should replace.

    A scene runs from its heading to the blank line before the next heading; a model's rewrite ends
    without that blank line, and :func:`proposed_from_text` drops trailing blank lines anyway, so
    replacing the whole span would join the next heading to the scene. ``(3, 9)`` over lines 3-9 whose
    last two are blank gives ``(3, 7)``; a range of blank lines only gives the insertion
    ``(first_line, first_line - 1)``. Lines are 1-based; the range is not checked against the script here.
    """
    lines = _lines(script_text)
    first, last = first_line, last_line
    while first <= last and _blank(lines, first):
        first += 1
    while last >= first and _blank(lines, last):
        last -= 1
    return (first, last) if first <= last else (first_line, first_line - 1)


def make_proposal(source: str, script_text: str, first_line: int, last_line: int, proposed: str) -> Proposal:
    """Make a proposal to replace lines ``first_line..last_line`` of ``script_text`` with ``proposed``.

    For a scene or a selection, pass the range through :func:`content_range` first.

    Args:
        source: The screenplay Text's name.
        script_text: The screenplay's current text (``Text.as_string()``).
        first_line: 1-based first line.
        last_line: 1-based last line, inclusive; ``first_line - 1`` for an insertion before ``first_line``.
        proposed: The proposed Fountain text.

    Raises:
        ValueError: The range is not within the script (``1 <= first_line <= last_line + 1 <= lines + 1``).
    """
    lines = _lines(script_text)
    if not _valid(lines, first_line, last_line):
        raise ValueError(f"Lines {first_line}-{last_line} are not a range of {source}, which has {len(lines)} lines")
    return Proposal(
        source=source,
        first_line=first_line,
        last_line=last_line,
        original_hash=hash_lines(_checked(lines, first_line, last_line)),
        proposed=proposed,
    )


def _separator(p: Proposal) -> str:
    if p.is_insertion:
        return f"--- Inserts at line {p.first_line} of {p.source} ---"
    return f"--- Diff against lines {p.first_line}-{p.last_line} of {p.source} ---"


def proposal_text(p: Proposal, script_text: str) -> str:
    """The body of the proposal Text: the proposed Fountain, a separator line, then a unified diff.

    Shape::

        <the proposed Fountain, trailing blank lines dropped>

        --- Diff against lines 12-14 of Scene.fountain ---      (insertions: --- Inserts at line 12 of ... ---)
        --- Scene.fountain (current)
        +++ Scene.fountain (proposed)
        @@ -12,3 +12,4 @@
        ...

    The diff is :func:`difflib.unified_diff` (``lineterm=""``) of the range's current lines against the
    proposed lines, with hunk line numbers shifted to the script's own numbers. With nothing to change
    the diff part reads ``(no changes)``. Lines of the range beyond the script are shown as absent.
    The body ends with a newline.
    """
    lines = _lines(script_text)
    original = lines[p.first_line - 1 : max(p.last_line, p.first_line - 1)]
    proposed = _proposed_lines(p.proposed)
    diff = list(
        difflib.unified_diff(original, proposed, f"{p.source} (current)", f"{p.source} (proposed)", lineterm="")
    )
    diff = [_shift_hunk(line, p.first_line - 1) for line in diff] or ["(no changes)"]
    head = _without_trailing_blanks(proposed)
    parts = [*head, "", _separator(p), *diff] if head else [_separator(p), *diff]
    return "\n".join(parts) + "\n"


def _shift_hunk(line: str, offset: int) -> str:
    match = _HUNK.match(line)
    if not match:
        return line
    old, old_len, new, new_len = match.groups()
    return f"@@ -{int(old) + offset}{old_len or ''} +{int(new) + offset}{new_len or ''} @@"


def proposed_from_text(body: str) -> str:
    """The proposed Fountain from a proposal Text's body (which the writer may have edited).

    Everything above the first separator line (``--- Diff against lines A-B of ... ---`` or
    ``--- Inserts at line A of ... ---``), with trailing blank lines dropped; the whole body so stripped
    when the writer deleted the separator. Returns the lines joined with ``"\\n"``, no trailing newline.
    """
    lines = _lines(body)
    for index, line in enumerate(lines):
        if _SEPARATOR.match(line.strip()):
            lines = lines[:index]
            break
    return "\n".join(_without_trailing_blanks(lines))


def _without_trailing_blanks(lines: Sequence[str]) -> list[str]:
    kept = list(lines)
    while kept and not kept[-1].strip():
        kept.pop()
    return kept


def apply(p: Proposal, script_text: str, proposed: str) -> str:
    """Return ``script_text`` with the proposal's range replaced by ``proposed`` (inserted, for an insertion).

    Args:
        p: The proposal (its range and hash).
        script_text: The screenplay's current text.
        proposed: The text to put there: usually :func:`proposed_from_text` of the proposal Text.

    Returns:
        The new text: every character outside the range is kept as it was, line breaks included.

    Raises:
        RangeChanged: The checked lines' hash differs from ``p.original_hash``, or the range is beyond
            the current script. Nothing is changed.
    """
    lines = _lines(script_text)
    if not _valid(lines, p.first_line, p.last_line):
        raise RangeChanged(p.source, p.first_line, p.last_line)
    if hash_lines(_checked(lines, p.first_line, p.last_line)) != p.original_hash:
        raise RangeChanged(p.source, p.first_line, p.last_line)
    end = max(p.last_line, p.first_line - 1)
    return "\n".join(lines[: p.first_line - 1] + _proposed_lines(proposed) + lines[end:])


def _note(text: str) -> str:
    """``[[text]]`` on one line: white space collapsed, ``[[`` / ``]]`` inside broken apart."""
    body = " ".join(text.split())
    body = re.sub(r"\[(?=\[)", "[ ", re.sub(r"\](?=\])", "] ", body))
    if body.startswith("["):
        body = " " + body
    if body.endswith("]"):
        body += " "
    return f"[[{body}]]"


def notes_insertion(script_text: str, notes: Sequence[tuple[int | None, str]], scene_heading_line: int) -> str:
    """Insert Fountain notes (``[[...]]``) into ``script_text``, each after the line it is about.

    Args:
        script_text: The screenplay's current text.
        notes: ``(line, text)`` pairs: ``line`` is the 1-based line the note quotes (for instance from
            :func:`screenwriter_llm.core.tasks.grounding.line_of_quote`), or None for a note about the
            scene as a whole, which goes after the scene heading.
        scene_heading_line: 1-based line of the scene's heading.

    Returns:
        The new text. Notes on the same line keep their order. A note goes on the line after its line,
        inside that paragraph: a note between two lines of dialogue stays in the speech (Fountain allows
        notes on their own line anywhere; fountain-py reads such a note as a NOTE element and the
        dialogue goes on after it). Two exceptions keep the screenplay's structure:

        - after a line that stands alone between blank lines (a scene heading, a transition, a one-line
          action), the notes form their own paragraph after a blank line, so a heading is still
          followed by a blank line, as Fountain 1.1 requires of a heading;
        - after a character cue (a Fountain 1.1 Character: uppercase, or forced with ``@``, a blank
          line before it and none after it), the notes go after the speech's last line instead, since
          a cue must be followed directly by its dialogue.

        A note's text is put on one line (white-space runs become one space) and ``]]`` / ``[[`` in it are
        broken apart (``] ]``), so it cannot close the note early.

    Raises:
        ValueError: ``scene_heading_line`` or a note's line is not a line of the script.
    """
    lines = _lines(script_text)
    count = len(lines)
    grouped: dict[int, list[str]] = {}
    for line, text in notes:
        anchor = scene_heading_line if line is None else line
        if not 1 <= anchor <= count:
            raise ValueError(f"Line {anchor} is not a line of the script, which has {count} lines")
        grouped.setdefault(anchor, []).append(_note(text))
    if not 1 <= scene_heading_line <= count:
        raise ValueError(f"Line {scene_heading_line} is not a line of the script, which has {count} lines")
    placed: dict[int, list[str]] = {}
    for anchor, texts in grouped.items():
        after, alone = _note_place(lines, anchor)
        placed.setdefault(after, [""] if alone else []).extend(texts)
    for after in sorted(placed, reverse=True):
        lines[after:after] = placed[after]
    return "\n".join(lines)


def _blank(lines: Sequence[str], line: int) -> bool:
    """True when 1-based ``line`` is blank or outside the text (before the first, after the last)."""
    return not 1 <= line <= len(lines) or not lines[line - 1].strip()


def _is_cue(lines: Sequence[str], line: int) -> bool:
    """Fountain 1.1's Character: a blank line before, a non-blank line after, the name in capitals (a
    lowercase extension such as ``(on the radio)`` allowed) or forced with ``@``."""
    text = lines[line - 1].strip()
    if not text or not _blank(lines, line - 1) or _blank(lines, line + 1) or text.startswith("!"):
        return False
    name = re.sub(r"\(.*?\)", "", text).removesuffix("^").strip()
    return text.startswith("@") or (any(c.isalpha() for c in name) and name == name.upper())


def _note_place(lines: Sequence[str], line: int) -> tuple[int, bool]:
    """(the 1-based line the notes go after, whether they need a paragraph of their own)."""
    if _blank(lines, line):
        return line, False
    if _blank(lines, line - 1) and _blank(lines, line + 1):
        return line, True
    if _is_cue(lines, line):
        while not _blank(lines, line + 1):
            line += 1
    return line, False
