"""Scenes of a Fountain screenplay, with the line numbers Blender shows.

Pure Python (never imports ``bpy``). The parsing is done by fountain-py (PyPI ``fountain-py``, MIT,
pure Python, pinned in ``requirements/``), a real Fountain 1.1 parser that keeps each element's source
line: its scene headings, character cues and title page are used as it gives them. This module only
normalises the text first (CRLF/CR to LF, no BOM, so line numbers equal ``bpy.types.Text.lines``
indices) and turns the elements into scenes with line spans.

Cost: fountain-py parses the whole document (dialogue, emphasis...), about 50 ms for the 146 KB,
4,634-line *Big Fish* script here. Callers that parse on every redraw cache by content
(``operators.screenplay_of``). ``tests/unit/test_fountain.py`` checks headings and line numbers
against ``shared/screenplays/scenes.json`` for three real screenplays.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from fountain import ElementType, FountainParser

__all__ = ["Scene", "Screenplay", "normalize", "parse"]

# Trailing scene number: "INT. HOUSE - DAY #1A#". fountain-py keeps it in the heading text.
_SCENE_NUMBER = re.compile(r"\s*#[A-Za-z0-9.-]+#\s*$")
# Unescaped emphasis delimiters (*italic*, **bold**, _underline_) in title-page values. An underscore between two
# letters or digits is part of a word ("ROAD_MOVIE"), not underline markup (Fountain spec, "Emphasis").
_EMPHASIS = re.compile(r"(?<!\\)(?:\*+|(?<![^\W_])_+|_+(?![^\W_]))")


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
    cues: tuple[tuple[int, str], ...] = field(default=(), repr=False)

    def characters_in(self, scene: Scene) -> list[str]:
        """Names of the characters with dialogue in ``scene`` (from its character cues, without
        extensions such as ``(V.O.)``), in order of first appearance."""
        names: list[str] = []
        for line, name in self.cues:
            if scene.start_line <= line <= scene.end_line and name not in names:
                names.append(name)
        return names

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
    """Find the title, scenes and character cues of a Fountain screenplay with fountain-py.

    Args:
        text: Fountain markup as a string; it is passed through :func:`normalize` first, so CRLF
            endings or a byte-order mark do not shift line numbers.

    Returns:
        A :class:`Screenplay`. Text without headings gives no scenes; nothing raises on odd input.
    """
    normalized = normalize(text)
    lines = tuple(normalized.split("\n"))
    document = FountainParser().parse(normalized)
    headings: list[tuple[int, str]] = []
    cues: list[tuple[int, str]] = []
    for element in document.elements:
        if element.type is ElementType.SCENE_HEADING:
            heading = _SCENE_NUMBER.sub("", element.text).strip()
            headings.append((element.line_number - 1, heading))
        elif element.type is ElementType.CHARACTER:
            name = re.sub(r"\s*\(.*?\)\s*", " ", element.text).replace("^", "").strip()
            cues.append((element.line_number - 1, name))

    scenes = tuple(
        Scene(
            number=number,
            heading=heading,
            start_line=start,
            end_line=headings[number][0] - 1 if number < len(headings) else len(lines) - 1,
        )
        for number, (start, heading) in enumerate(headings, start=1)
    )
    return Screenplay(title=_title(document.metadata), lines=lines, scenes=scenes, cues=tuple(cues))


def _title(metadata: Mapping[str, object]) -> str | None:
    """The title page's ``Title:`` value as plain text (emphasis markup removed, lines joined), or None."""
    value = metadata.get("title")
    if isinstance(value, list):
        value = " ".join(str(v) for v in value)
    if not value:
        return None
    plain = _EMPHASIS.sub("", str(value))
    plain = re.sub(r"\\([*_])", r"\1", plain)
    return " ".join(plain.split()) or None
