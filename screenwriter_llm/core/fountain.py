"""Scenes of a Fountain screenplay, with the line numbers Blender shows.

Pure Python (never imports ``bpy``) and fast enough to run from a panel's ``draw()``: one pass over the
lines, about 1.5 ms for the 146 KB, 4,634-line *Big Fish* script on a current desktop CPU.

Rules followed (Fountain 1.1, https://fountain.io/syntax#scene-headings):

- A scene heading stands alone: the line before it is blank (or it is the first line) and the line
  after it is blank (or it is the last line).
- It starts with ``INT``, ``EXT``, ``EST``, ``INT./EXT``, ``INT/EXT`` or ``I/E`` followed by a dot or a
  space, in any case; or it is forced by a single leading ``.`` followed by a letter or digit (so
  ``...`` and ``..`` stay action or dialogue).
- A trailing scene number ``#12#`` / ``#1A#`` is not part of the heading text.
- The title page (``Key: value`` lines at the very top, up to the first blank line) holds no headings.
- ``/* boneyard */`` text is ignored, but its lines still count, so line numbers match the editor.

Why this module does not call a third-party Fountain parser:

- The pinned ``fountain==0.1.3`` (PyPI project "fountain", 2016, sdist only; not fountain-py) cannot
  be imported on Python 3.6+: ``fountain/main.py`` compiles ``str`` patterns with ``re.LOCALE``, which
  raises ``ValueError: cannot use LOCALE flag with a str pattern`` at import. With that flag removed
  by hand it still keeps no line numbers, and its heading pattern takes ``...`` lines as forced
  headings and ``I/EVAN`` or ``INT-CUT`` as headings: 198 headings in *Big Fish* instead of 190.
- fountain-py 0.3.0 (PyPI "fountain-py") finds exactly the headings and line numbers of
  ``shared/screenplays/scenes.json`` (190 of 190 in *Big Fish*), but a full parse of *Big Fish*
  takes 50-80 ms warm and ~140 ms cold: dialogue detection and inline emphasis, none of which scene
  finding needs, and too slow for a sidebar redrawn on every keystroke.

So the heading rules, which are short, are applied here directly; ``tests/unit/test_fountain.py``
checks them against the headings listed in ``scenes.json`` for three real screenplays.
"""

from __future__ import annotations

import bisect
import itertools
import re
from dataclasses import dataclass

__all__ = ["Scene", "Screenplay", "normalize", "parse"]

# "INT. HOUSE", "ext park", "INT./EXT. CAR", "I/E TRUCK". The longer prefixes come first so that
# "INT./EXT" is not read as "INT" + ".". A word that merely starts with the letters ("INTERCUT",
# "Establishing") does not match, because a dot or a space must follow the prefix.
_HEADING_PREFIX = re.compile(r"(?:INT\./EXT|INT/EXT|INT|EXT|EST|I/E)[. ]", re.IGNORECASE)
# A single leading '.' followed by a letter or digit (Unicode aware): ".FLASHBACK", ".3 AM".
_FORCED_HEADING = re.compile(r"\.[^\W_]")
# Trailing scene number: "INT. HOUSE - DAY #1A#" -> "1A". Letters, digits, dots and dashes only.
_SCENE_NUMBER = re.compile(r"\s*#[A-Za-z0-9.-]+#\s*$")
# Closed boneyard comments; an unclosed "/*" is left alone rather than swallowing the rest.
_BONEYARD = re.compile(r"/\*.*?\*/", re.DOTALL)
# A title-page key at the start of a line: "Title:", "Draft date:", "Contact:".
_TITLE_KEY = re.compile(r"([A-Za-z0-9][A-Za-z0-9 _'-]*):(.*)")
# Unescaped emphasis delimiters (*italic*, **bold**, _underline_) in title-page values.
_EMPHASIS = re.compile(r"(?<!\\)[*_]+")


@dataclass(frozen=True)
class Scene:
    """One scene of a screenplay.

    Attributes:
        number: 1-based position of the scene in the screenplay.
        heading: The heading as written, without a leading forcing ``.``, without a trailing scene
            number ``#12#``, and without surrounding whitespace.
        start_line: 0-based index of the heading line (the same index as ``bpy.types.Text.lines``).
        end_line: 0-based index, inclusive, of the scene's last line: the line before the next
            heading, or the screenplay's last line.
    """

    number: int
    heading: str
    start_line: int
    end_line: int


@dataclass(frozen=True)
class Screenplay:
    """A parsed screenplay: its normalised lines, its scenes and its title.

    Attributes:
        title: The title page's ``Title:`` value with emphasis markup (``*``, ``_``) removed and
            continuation lines joined by a space; ``None`` without a title page or ``Title:`` key.
        lines: The normalised text split on ``"\\n"`` (boneyard text included, as in the editor).
            A text ending in a newline has an empty last line, as Blender's ``Text.lines`` does.
        scenes: The scenes in order, numbered from 1.
    """

    title: str | None
    lines: tuple[str, ...]
    scenes: tuple[Scene, ...]

    def scene_at_line(self, index: int) -> Scene | None:
        """Return the scene containing 0-based line ``index``.

        Args:
            index: A 0-based line index, e.g. ``Text.current_line_index``.

        Returns:
            The scene whose ``start_line <= index <= end_line``; ``None`` when the line comes before
            the first heading (title page, opening action) or lies outside ``lines``.
        """
        if index < 0 or index >= len(self.lines):
            return None
        position = bisect.bisect_right(self.scenes, index, key=lambda scene: scene.start_line)
        return self.scenes[position - 1] if position else None

    def scene_text(self, scene: Scene) -> str:
        """Return the scene's lines, heading included, joined with ``"\\n"`` (no trailing newline)."""
        return "\n".join(self.lines[scene.start_line : scene.end_line + 1])


def normalize(text: str) -> str:
    """Return ``text`` with a leading byte-order mark removed and CRLF / CR line endings made LF.

    This is the text Blender holds once a script is loaded, so line indices agree with ``Text.lines``.
    Boneyard comments are kept; :func:`parse` ignores them when it looks for headings.
    """
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def parse(text: str) -> Screenplay:
    """Find the title and scenes of a Fountain screenplay.

    Args:
        text: Fountain markup as a string; it is passed through :func:`normalize` first, so CRLF
            endings or a byte-order mark do not shift line numbers.

    Returns:
        A :class:`Screenplay`. Text without headings gives no scenes; nothing raises on odd input.
    """
    normalized = normalize(text)
    lines = tuple(normalized.split("\n"))
    if "/*" in normalized:
        # Keep the newlines inside each comment so every later line keeps its index.
        blanked = _BONEYARD.sub(lambda match: "\n" * match.group().count("\n"), normalized)
        scan = blanked.split("\n")
    else:
        scan = list(lines)

    # No separate skip for the title page is needed: it is one block of lines without a blank line,
    # opening with a "Key:" line, so none of its lines stands alone as a heading.
    last = len(scan) - 1
    headings: list[tuple[int, str]] = []
    previous_blank = True  # the first line counts as preceded by a blank line
    for index, line in enumerate(scan):
        stripped = line.strip()
        if not stripped:
            previous_blank = True
            continue
        if previous_blank and (index == last or not scan[index + 1].strip()):
            heading = _heading_text(stripped)
            if heading is not None:
                headings.append((index, heading))
        previous_blank = False

    scenes = tuple(
        Scene(
            number=number,
            heading=heading,
            start_line=start,
            end_line=headings[number][0] - 1 if number < len(headings) else len(lines) - 1,
        )
        for number, (start, heading) in enumerate(headings, start=1)
    )
    return Screenplay(title=_title(scan), lines=lines, scenes=scenes)


def _heading_text(stripped: str) -> str | None:
    """Return the heading text of a stripped stand-alone line, or ``None`` when it is no heading."""
    if _FORCED_HEADING.match(stripped):
        stripped = stripped[1:]
    elif not _HEADING_PREFIX.match(stripped):
        return None
    return _SCENE_NUMBER.sub("", stripped).strip() or None


def _title(lines: list[str]) -> str | None:
    """Return the plain text of the title page's ``Title:`` value, or ``None``.

    A title page opens the document (after any blank lines) with an unindented ``Key:`` line that is
    not a scene heading, and ends at the first blank line. A value continues on the lines indented by
    a tab or three or more spaces below its key; those lines are joined with a space.
    """
    first = 0
    while first < len(lines) and not lines[first].strip():
        first += 1
    opening = lines[first] if first < len(lines) else ""
    if _is_indented(opening) or _HEADING_PREFIX.match(opening) or not _TITLE_KEY.match(opening.rstrip()):
        return None

    parts: list[str] | None = None
    in_title = False
    for line in itertools.takewhile(str.strip, lines[first:]):
        key = None if _is_indented(line) else _TITLE_KEY.match(line.rstrip())
        if key is not None:
            in_title = parts is None and key.group(1).strip().lower() == "title"
            if in_title:
                parts = [key.group(2)]
        elif in_title and parts is not None:
            parts.append(line)
    if parts is None:
        return None
    plain = _EMPHASIS.sub("", " ".join(part.strip() for part in parts))
    plain = re.sub(r"\\([*_])", r"\1", plain)
    return " ".join(plain.split()) or None


def _is_indented(line: str) -> bool:
    """Whether a title-page line continues the previous key's value (a tab or 3+ leading spaces)."""
    return line.startswith(("\t", "   "))
