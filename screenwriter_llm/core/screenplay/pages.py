"""Page count and scene lengths in eighths of a page, paginated the way screenplay software does.

Pure Python (never imports ``bpy``). Units: a *line* is one printed line of 12 pt Courier (6 lines an
inch, 10 characters an inch); a *page* is the script body of one US Letter sheet, ``lines_per_page``
lines tall; an *eighth* is one eighth of such a page, the unit productions schedule scenes by.

The layout mirrors afterwriting 1.17.3 (npm ``afterwriting``, MIT; sources in
github.com/ifrost/afterwriting-labs), the Fountain-to-PDF paginator that ``tests/unit/core/screenplay/
test_pages.py`` runs as the reference oracle. The rules and where they come from:

* Page and element geometry: afterwriting's ``js/utils/print-profiles.js``, profile ``usletter``:
  55 body lines a page; action, scene headings, transitions and centered text wrap at 61 characters
  (1.5" from the left edge; the industry's 6" action line holds 60), character cues at 33 (3.5" in),
  parentheticals at 26 (3"), dialogue at 36 (2.5"); dual dialogue columns are 0.75 as wide.
* Word wrap: ``split_text`` in ``js/utils/liner.js``: break at the last space that leaves at most
  the width on the line; a word longer than the width is cut at the width.
* Blank lines: afterwriting's parser (npm ``aw-parser`` 0.1.1, ``parser.js``) prints one blank line
  wherever the source has one or more blank lines between two printed elements ("merge empty
  lines", on by default), and none where two elements sit on adjacent source lines (a character cue
  and its dialogue, consecutive centered lines). Notes ``[[...]]``, boneyard ``/* */``, sections
  ``#`` and synopses ``=`` print nothing, and a blank line inside a boneyard is not a blank line.
* Page breaks: ``break_lines`` and ``default_breaker`` in ``js/utils/liner.js``. A page takes the
  most lines (at most ``lines_per_page``) that end where a break is allowed, and blank lines at
  the top of a page are dropped. A break is not allowed right after a scene heading; before a
  transition; inside an action line of 1-3 printed lines (only after its last line), nor after
  the first or the penultimate line of a longer one; inside a dialogue block, except between two
  dialogue lines that have a dialogue line before them, where the block is split with ``(MORE)``
  at the foot of the page and the cue repeated with ``(CONT'D)`` at the top of the next; a block
  that cannot be split moves whole to the next page. A forced page break ``===`` ends the page.

Where this module differs from afterwriting, on purpose:

* A scene heading needs at least ``min_lines_after_heading`` (2) printed lines of its scene after
  it on its page, not 1 (the product issue's rule against orphaned headings).
* Dual dialogue takes the lines of its longer column (afterwriting counts only the left column and
  lets a longer right column print over what follows).
* Element classification is fountain-py's (Fountain 1.1), via the same parse as
  :mod:`core.screenplay.fountain`, and emphasis markers (``*``, ``_``) take no width; afterwriting
  has its own looser regular expressions (any line ending in ``TO:`` is a transition, an all-caps
  action line followed by a line is a character cue) and wraps the markers as text.
* A heading too long for one line is not split over two pages (afterwriting only keeps a heading
  from being a page's last text line).
* A lyric (``~``) in a speech wraps as dialogue, a lyric on its own as action (afterwriting: always
  as the element it would otherwise be, markers included).
* The first ``===`` within a page's reach ends it (afterwriting keeps looking and takes the last).
* A page with no allowed break is cut after its last line (afterwriting prints one line too many).

Checked: ``tests/unit/core/screenplay/test_pages.py`` (rules on small scripts; the three scripts in
``shared/screenplays/`` against afterwriting's PDFs: 121/121 pages for *Big Fish*, 3/3 for
*Brick & Steel*, 20/19 for *The Last Birthday Card*, whose many one-line "shot" headings meet the
2-line heading rule).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from fountain import ElementType, FountainDocument, FountainElement, FountainParser

from .fountain import normalize

__all__ = [
    "US_LETTER",
    "PageLayout",
    "Pagination",
    "PrintedLine",
    "SceneLength",
    "eighths_of",
    "format_eighths",
    "paginate",
    "paginate_document",
    "printed_pages",
    "wrap",
]

# Trailing scene number "#1A#" of a heading, as core.screenplay.fountain strips it (that module keeps
# the pattern private, and its parse() would parse the document a second time: 45 ms for Big Fish).
_SCENE_NUMBER = re.compile(r"\s*#[A-Za-z0-9.-]+#\s*$")
# Boneyard spans; the unclosed tail of a "/*" runs to the end, as in fountain-py.
_BONEYARD = re.compile(r"/\*.*?(?:\*/|\Z)", re.DOTALL)

# Line types (afterwriting's token types). Lines of other types never print.
_HEADING = "scene_heading"
_ACTION = "action"
_CHARACTER = "character"
_PARENTHETICAL = "parenthetical"
_DIALOGUE = "dialogue"
_TRANSITION = "transition"
_CENTERED = "centered"
_SEPARATOR = "separator"
_PAGE_BREAK = "page_break"
_DIALOGUE_TYPES = frozenset({_CHARACTER, _PARENTHETICAL, _DIALOGUE})


@dataclass(frozen=True)
class PageLayout:
    """Geometry of a page, in printed lines and characters of 12 pt Courier (10 to the inch).

    The defaults are afterwriting 1.17.3's US Letter profile (``js/utils/print-profiles.js``,
    ``usletter``) and its liner settings (``js/core/model/settings.js``).

    Attributes:
        lines_per_page: Body lines on one page (55: 11" less 1" top and bottom margins and the
            page-number line, at 6 lines an inch).
        action_width: Characters on a line of action, scene heading, transition or centered text.
        character_width: Characters on a character cue line.
        parenthetical_width: Characters on a parenthetical line.
        dialogue_width: Characters on a dialogue line.
        dual_factor: Width of a dual-dialogue column relative to the single-column width.
        min_lines_after_heading: Printed (non-blank) lines of its scene a heading needs below it on
            its page (afterwriting: 1; the product issue: 2).
        split_dialogue: Whether a dialogue block may be split across pages with (MORE)/(CONT'D).
        more: The line at the foot of a page whose dialogue goes on over the page.
        contd: The extension added to the cue repeated at the top of the next page.
    """

    lines_per_page: int = 55
    action_width: int = 61
    character_width: int = 33
    parenthetical_width: int = 26
    dialogue_width: int = 36
    dual_factor: float = 0.75
    min_lines_after_heading: int = 2
    split_dialogue: bool = True
    more: str = "(MORE)"
    contd: str = "(CONT'D)"

    def __post_init__(self) -> None:
        if self.lines_per_page < 8:
            raise ValueError(f"lines_per_page must be at least 8, got {self.lines_per_page}")
        widths = (self.action_width, self.character_width, self.parenthetical_width, self.dialogue_width)
        if min(widths) < 8 or not 0 < self.dual_factor <= 1:
            raise ValueError("element widths must be at least 8 characters and dual_factor in (0, 1]")

    def width(self, line_type: str, dual: bool = False) -> float:
        """Characters that fit on a line of ``line_type`` (a fraction for dual columns, as in afterwriting)."""
        if line_type == _CHARACTER:
            width: float = self.character_width
        elif line_type == _PARENTHETICAL:
            width = self.parenthetical_width
        elif line_type == _DIALOGUE:
            width = self.dialogue_width
        else:
            width = self.action_width
        return width * self.dual_factor if dual else width


US_LETTER = PageLayout()
"""US Letter, 12 pt Courier: afterwriting's ``usletter`` print profile (55 lines a page)."""


@dataclass(frozen=True)
class SceneLength:
    """How much of the script one scene takes.

    Attributes:
        scene_number: 1-based position of the scene, as ``core.screenplay.fountain.Scene.number``.
        heading: The heading as ``core.screenplay.fountain.Scene.heading`` gives it.
        first_line: 1-based line of the heading in the Fountain text (``Scene.start_line + 1``).
        lines: Printed lines from the heading up to the next heading: text lines, blank lines
            between elements and the (MORE)/(CONT'D) lines of dialogue split over a page; blank
            lines dropped at a page top and the unused foot of a page are nobody's.
        eighths: ``lines`` in eighths of a page, rounded up, at least 1.
        page: 1-based page on which the heading prints.
    """

    scene_number: int
    heading: str
    first_line: int
    lines: int
    eighths: int
    page: int


@dataclass(frozen=True)
class Pagination:
    """A paginated script body.

    Attributes:
        pages: Pages of the script body (the title page is not one); 0 for a script that prints
            nothing.
        lines_per_page: Body lines a page holds (the layout's).
        scenes: One :class:`SceneLength` per scene heading, in order.
        page_lines: Printed lines on each page, blank lines included, in page order.
        opening_lines: Printed lines before the first scene heading (a prologue, ``FADE IN:``).
    """

    pages: int
    lines_per_page: int
    scenes: tuple[SceneLength, ...]
    page_lines: tuple[int, ...]
    opening_lines: int = 0

    @property
    def eighths(self) -> int:
        """Eighths of all scenes plus those of the opening (0 when there is none)."""
        opening = eighths_of(self.opening_lines, self.lines_per_page) if self.opening_lines else 0
        return opening + sum(scene.eighths for scene in self.scenes)


@dataclass(frozen=True)
class PrintedLine:
    """One printed line of a page, for previews and tests.

    Attributes:
        kind: ``"scene_heading"``, ``"action"``, ``"character"``, ``"parenthetical"``, ``"dialogue"``,
            ``"transition"``, ``"centered"`` or ``"blank"``. A (MORE) line is a parenthetical, a
            repeated cue with (CONT'D) a character, as afterwriting types them.
        text: The line's text without indentation (emphasis markers removed).
    """

    kind: str
    text: str


def eighths_of(lines: int, lines_per_page: int = US_LETTER.lines_per_page) -> int:
    """Eighths of a page that ``lines`` lines of a page take: ``lines / (lines_per_page / 8)`` rounded to the
    nearest eighth (halves up), at least 1 (the smallest length a production schedules). Rounding to the nearest
    keeps a script's scenes adding up to its page count; rounding every scene up would add half an eighth per
    scene (six pages on a 190-scene feature)."""
    if lines < 0:
        raise ValueError(f"lines must not be negative, got {lines}")
    return max(1, (lines * 16 + lines_per_page) // (2 * lines_per_page))


def format_eighths(eighths: int) -> str:
    """Write a length in eighths of a page as productions do: ``19`` -> ``"2 3/8"``, ``7`` -> ``"7/8"``,
    ``8`` -> ``"1"``, ``4`` -> ``"4/8"`` (eighths are never reduced), ``0`` -> ``"0"``."""
    if eighths < 0:
        raise ValueError(f"eighths must not be negative, got {eighths}")
    whole, rest = divmod(eighths, 8)
    if not rest:
        return str(whole)
    return f"{whole} {rest}/8" if whole else f"{rest}/8"


def paginate(screenplay_text: str, layout: PageLayout = US_LETTER) -> Pagination:
    """Paginate a Fountain screenplay and measure each scene in eighths of a page.

    Args:
        screenplay_text: Fountain markup; CRLF/CR endings and a byte-order mark are normalised
            first (:func:`core.screenplay.fountain.normalize`), so line numbers match that module's.
        layout: Page geometry; :data:`US_LETTER` unless a test wants small pages.

    Returns:
        The :class:`Pagination`. Nothing raises on odd input. Cost: one fountain-py parse (about
        45 ms for the 4,634-line *Big Fish*) and a few milliseconds of layout.
    """
    text = normalize(screenplay_text)
    return paginate_document(FountainParser().parse(text), text, layout)


def paginate_document(document: FountainDocument, text: str, layout: PageLayout = US_LETTER) -> Pagination:
    """:func:`paginate` for a document already parsed by fountain-py from ``text`` (normalised with
    :func:`core.screenplay.fountain.normalize`), so a caller that needs the elements too parses once."""
    lines, scenes = _layout_lines(document, text, layout)
    pages = _break_pages(lines, layout)
    return _measure(pages, scenes, layout)


def printed_pages(screenplay_text: str, layout: PageLayout = US_LETTER) -> tuple[tuple[PrintedLine, ...], ...]:
    """The lines :func:`paginate` puts on each page, in order: what it counts, to look at.

    Args:
        screenplay_text: Fountain markup (normalised as in :func:`paginate`).
        layout: Page geometry.

    Returns:
        One tuple of :class:`PrintedLine` per page of the script body.
    """
    text = normalize(screenplay_text)
    lines, _ = _layout_lines(FountainParser().parse(text), text, layout)
    return tuple(
        tuple(PrintedLine("blank" if line.type == _SEPARATOR else line.type, line.text) for line in page)
        for page in _break_pages(lines, layout)
    )


# --- Lines -------------------------------------------------------------------------------------------------------


class _Token:
    """One source line of an element (afterwriting's token): its type and its printed lines."""

    __slots__ = ("type", "dual", "lines")

    def __init__(self, type_: str, dual: bool = False) -> None:
        self.type = type_
        self.dual = dual
        self.lines: list[_Line] = []


class _Line:
    """One printed line. ``type`` is the line's own; ``token.type`` is what afterwriting's ``is()``
    tests, which differs for the (MORE) and (CONT'D) lines (they belong to the split dialogue token).
    ``scene`` is the 0-based index of the scene whose heading this line is, else None."""

    __slots__ = ("type", "text", "token", "scene")

    def __init__(self, type_: str, text: str, token: _Token, scene: int | None = None) -> None:
        self.type = type_
        self.text = text
        self.token = token
        self.scene = scene


def wrap(text: str, width: float) -> list[str]:
    """Printed lines of one source line ``text`` at ``width`` characters (``split_text`` in
    afterwriting's ``js/utils/liner.js``): break at the last space within ``width + 1`` characters
    and drop that space; with no space there, cut at the width. Runs of spaces are kept as typed.
    A fractional ``width`` (a dual-dialogue column) holds ``int(width)`` characters."""
    out: list[str] = []
    limit = int(width)
    while len(text) > width:
        pointer = text.rfind(" ", 0, limit + 1)
        if pointer <= 0:
            out.append(text[:limit])
            text = text[limit:]
        else:
            out.append(text[:pointer])
            text = text[pointer + 1 :]
    out.append(text)
    return out


def _blank_lines(text: str) -> list[bool]:
    """For each 0-based source line: is it blank (whitespace only) outside any boneyard?"""
    # Every line a boneyard touches gets an "x" (an empty line inside one too); line count unchanged.
    visible = _BONEYARD.sub(lambda match: "x" + match.group().replace("\n", "\nx"), text)
    return [not line.strip() for line in visible.split("\n")]


def _cue_text(element: FountainElement, source: list[str]) -> str:
    """A character cue as typed, extensions included, without a forcing ``@`` or a dual ``^`` (fountain-py
    moves the extensions into metadata and may mark a continuation the writer did not type)."""
    line = element.line_number - 1
    typed = source[line].strip() if 0 <= line < len(source) else element.text
    return typed.removeprefix("@").removesuffix("^").rstrip() or element.text


def _dual_column(element: FountainElement, source: list[str]) -> list[list[tuple[str, str]]]:
    """(type, text) of the lines of the left and the right column of a dual-dialogue element, cue first."""
    columns: list[list[tuple[str, str]]] = []
    for side in ("left", "right"):
        column: list[tuple[str, str]] = []
        character = element.metadata.get(f"{side}_character")
        if isinstance(character, FountainElement):
            column.append((_CHARACTER, _cue_text(character, source)))
        speech = element.metadata.get(f"{side}_dialogue")
        for part in speech if isinstance(speech, list) else ():
            kind = _PARENTHETICAL if part.type is ElementType.PARENTHETICAL else _DIALOGUE
            column.extend((kind, piece) for piece in part.text.split("\n"))
        columns.append(column)
    return columns


def _first_line(element: FountainElement) -> int:
    """1-based source line where ``element`` starts (a dual-dialogue element starts at its left cue)."""
    character = element.metadata.get("left_character")
    if element.type is ElementType.DUAL_DIALOGUE and isinstance(character, FountainElement):
        return character.line_number
    return element.line_number


def _last_line(element: FountainElement) -> int:
    """1-based source line where ``element`` starts its last part (the right column's last line)."""
    if element.type is ElementType.DUAL_DIALOGUE:
        parts = element.metadata.get("right_dialogue")
        if isinstance(parts, list) and parts:
            return max(element.line_number, parts[-1].line_number)
    return element.line_number


def _layout_lines(
    document: FountainDocument, text: str, layout: PageLayout
) -> tuple[list[_Line], list[tuple[str, int]]]:
    """Every printed line of the script body in order, blank separators and forced page breaks
    included, before pagination (afterwriting's parser plus the first half of ``liner.line``), and
    each scene's heading and 1-based first line (as :func:`core.screenplay.fountain.parse` gives them)."""
    # blanks_before[n]: blank source lines among the first n, so "is there a blank line between two
    # elements" is one subtraction.
    blanks_before = [0]
    for is_blank in _blank_lines(text):
        blanks_before.append(blanks_before[-1] + is_blank)
    source = text.split("\n")
    out: list[_Line] = []
    scenes: list[tuple[str, int]] = []
    previous_end = 0  # 1-based line of the previous printed element's last part; 0 before the first
    in_dialogue = False
    widths = {type_: layout.width(type_) for type_ in (_HEADING, _ACTION, _CHARACTER, _PARENTHETICAL, _DIALOGUE)}
    widths[_TRANSITION] = widths[_CENTERED] = widths[_ACTION]

    def emit(type_: str, pieces: Iterable[str], width: float, dual: bool = False, scene: int | None = None) -> None:
        for piece in pieces:
            token = _Token(type_, dual)
            if len(piece) <= width:
                token.lines.append(_Line(type_, piece, token, scene))
            else:
                token.lines.extend(_Line(type_, wrapped, token) for wrapped in wrap(piece, width))
                token.lines[0].scene = scene  # only a heading's first line starts its scene
            scene = None
            out.extend(token.lines)

    for element in document.elements:
        kind = element.type
        if kind is ElementType.PAGE_BREAK:
            out.append(_Line(_PAGE_BREAK, "", _Token(_PAGE_BREAK)))
            previous_end, in_dialogue = element.line_number, False
            continue
        type_ = _LINE_TYPE.get(kind)
        if type_ is None:
            continue  # notes, boneyard, sections, synopses print nothing
        start = _first_line(element)
        # A blank source line between the previous printed element and this one prints as one blank
        # line (aw-parser's separator tokens, merged) and ends a speech.
        gap = blanks_before[start - 1] > blanks_before[min(previous_end, start - 1)]
        continues_block = in_dialogue and not gap and type_ in _DIALOGUE_TYPES and kind is not ElementType.CHARACTER
        if out and gap:
            out.append(_Line(_SEPARATOR, "", _Token(_SEPARATOR)))
        if kind is ElementType.SCENE_HEADING:
            heading = _SCENE_NUMBER.sub("", element.text).strip()
            emit(_HEADING, [heading], widths[_HEADING], scene=len(scenes))
            scenes.append((heading, element.line_number))
        elif kind is ElementType.CHARACTER:
            emit(_CHARACTER, [_cue_text(element, source)], widths[_CHARACTER])
        elif kind is ElementType.DUAL_DIALOGUE:
            # The longer column, in printed lines, stands for the pair (see the module docstring).
            columns = [
                [(line_type, piece, layout.width(line_type, dual=True)) for line_type, piece in column]
                for column in _dual_column(element, source)
            ]
            longer = max(columns, key=lambda column: sum(len(wrap(piece, width)) for _, piece, width in column))
            for line_type, piece, width in longer:
                emit(line_type, [piece], width, dual=True)
        else:
            if kind is ElementType.LYRICS:
                type_ = _DIALOGUE if continues_block else _ACTION  # sung in a speech, else as afterwriting: action
            elif kind is ElementType.PARENTHETICAL and not continues_block:
                type_ = _ACTION  # a parenthetical outside a speech
            emit(type_, element.text.split("\n"), widths[type_])
        in_dialogue = kind is ElementType.CHARACTER or continues_block
        previous_end = _last_line(element)
    return out, scenes


# The line type each printed fountain-py element starts as; elements not listed print nothing.
_LINE_TYPE = {
    ElementType.SCENE_HEADING: _HEADING,
    ElementType.ACTION: _ACTION,
    ElementType.CHARACTER: _CHARACTER,
    ElementType.PARENTHETICAL: _PARENTHETICAL,
    ElementType.DIALOGUE: _DIALOGUE,
    ElementType.LYRICS: _DIALOGUE,
    ElementType.TRANSITION: _TRANSITION,
    ElementType.CENTERED: _CENTERED,
    ElementType.DUAL_DIALOGUE: "dual",  # laid out column by column
}


# --- Pages -------------------------------------------------------------------------------------------------------


def _break_allowed(lines: list[_Line], index: int, top: int, layout: PageLayout) -> bool:
    """May the page end after ``lines[index]`` (a printed text line; the page starts at ``top``)?

    afterwriting's ``default_breaker`` (``js/utils/liner.js``), in its order, plus the product rule of
    ``min_lines_after_heading``. A dialogue split inserts the (MORE) and (CONT'D) lines at ``index``
    (so ``lines[index]`` becomes (MORE), the page's last line) and answers True.
    """
    before = index - 1
    while before > top and not lines[before].text:
        before -= 1
    after = index + 1
    while after < len(lines) and not lines[after].text:
        after += 1
    on_break = lines[index]
    kind = on_break.token.type
    token_after = lines[after].token.type if after < len(lines) else None

    if (
        kind == _HEADING
        and token_after is not None
        and (token_after != _HEADING or lines[after].token is on_break.token)
    ):
        return False  # (nor between the lines of one long heading)
    if token_after == _TRANSITION and kind != _TRANSITION:
        return False
    if kind == _ACTION:
        count = len(on_break.token.lines)
        position = on_break.token.lines.index(on_break)
        if count < 4 and position != count - 1:
            return False
        if count >= 4 and position in (0, count - 2):
            return False
    if kind != _HEADING and not _heading_has_room(lines, index, top, layout.min_lines_after_heading):
        return False
    if (
        layout.split_dialogue
        and kind == _DIALOGUE
        and token_after == _DIALOGUE
        and lines[before].token.type == _DIALOGUE
        and not on_break.token.dual
    ):
        character = before  # the speech's cue, or the (CONT'D) cue that opens this page
        while character > top and lines[character].type != _CHARACTER:
            character -= 1
        if lines[character].type == _CHARACTER:
            cue = lines[character].text.strip()
            contd = cue if layout.contd in cue else f"{cue} {layout.contd}"
            lines[index:index] = [
                _Line(_PARENTHETICAL, layout.more, on_break.token),
                _Line(_CHARACTER, contd, on_break.token),
            ]
            return True
    if on_break.type in _DIALOGUE_TYPES and token_after in (_DIALOGUE, _PARENTHETICAL):
        return False
    return True


def _heading_has_room(lines: list[_Line], index: int, top: int, needed: int) -> bool:
    """Whether ending the page after ``lines[index]`` leaves at least ``needed`` text lines below the
    page's last scene heading (True when no heading lies between ``top`` and ``index``)."""
    count = 0
    for position in range(index, top - 1, -1):
        line = lines[position]
        if line.token.type == _HEADING:
            return count >= needed
        if line.text:
            count += 1
            if count >= needed:
                return True
    return True


def _break_pages(lines: list[_Line], layout: PageLayout) -> list[list[_Line]]:
    """Cut the lines into pages (afterwriting's ``break_lines``, iterative). ``lines`` is modified:
    dialogue splits insert their (MORE) and (CONT'D) lines."""
    size = layout.lines_per_page
    pages: list[list[_Line]] = []
    top = 0
    while True:
        while top < len(lines) and not lines[top].text:
            top += 1  # blank lines and page breaks at the top of a page do not print
        if top >= len(lines):
            return pages
        end = min(len(lines), top + size)
        forced = next((i for i in range(top + 1, end) if lines[i].type == _PAGE_BREAK), None)
        if forced is not None:
            last = forced - 1
        elif len(lines) - top <= size:
            last = len(lines) - 1
        else:
            last = _last_breakable(lines, top, layout)
        while last > top and not lines[last].text:
            last -= 1  # trailing blank lines stay off the page
        pages.append(lines[top : last + 1])
        top = last + 1


def _last_breakable(lines: list[_Line], top: int, layout: PageLayout) -> int:
    """Index of the last line of a full page that starts at ``top``: the last text line within
    ``lines_per_page`` after which a break is allowed; the page's last line when none is."""
    candidate = top + layout.lines_per_page
    while True:
        candidate -= 1
        while candidate > top and not lines[candidate].text:
            candidate -= 1
        if candidate <= top:
            return top + layout.lines_per_page - 1
        if _break_allowed(lines, candidate, top, layout):
            return candidate


def _measure(pages: list[list[_Line]], scenes: list[tuple[str, int]], layout: PageLayout) -> Pagination:
    """Count the printed lines of each page and scene, and each scene's share of the pages.

    A scene's eighths measure where it stands on the pages, as a production's breakdown does: its printed lines
    plus the empty foot of a page it ends (a page break leaves the rest of the page to the scene before it; the
    last page's foot is nobody's), so the scenes' eighths add up to the page count (each rounded to the nearest
    eighth).
    """
    size = layout.lines_per_page
    lines = [0] * len(scenes)
    span = [0] * len(scenes)
    on_page = [0] * len(scenes)
    current = -1
    opening = 0
    for number, page in enumerate(pages, start=1):
        for line in page:
            if line.scene is not None:
                current = line.scene
                on_page[current] = number
            if current < 0:
                opening += 1
            else:
                lines[current] += 1
                span[current] += 1
        if current >= 0 and number < len(pages):  # the last page's foot is nobody's
            span[current] += max(0, size - len(page))
    return Pagination(
        pages=len(pages),
        lines_per_page=size,
        scenes=tuple(
            SceneLength(
                scene_number=index + 1,
                heading=heading,
                first_line=first_line,
                lines=lines[index],
                eighths=eighths_of(span[index], size),
                page=on_page[index],
            )
            for index, (heading, first_line) in enumerate(scenes)
        ),
        page_lines=tuple(len(page) for page in pages),
        opening_lines=opening,
    )
