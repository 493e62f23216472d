"""Script statistics: length in pages and eighths, a runtime estimate, characters and locations.

Pure Python (never imports ``bpy``). One fountain-py parse (the one :mod:`core.screenplay.pages`
paginates) gives the elements: scene headings, character cues, dialogue, dual dialogue. Units:
eighths of a page and pages as :mod:`core.screenplay.pages` measures them (55-line US Letter pages),
seconds for the runtime (the one-page-a-minute rule by default).

Two things fountain-py does not give are written here:

* the parts of a scene heading (INT/EXT, location, time of day): fountain-py keeps a heading as one
  string; :func:`parse_heading` splits it;
* a normalised speaker name: fountain-py keeps a cue's name with the writer's casing (``@McCLANE``
  gives ``McCLANE``) and moves only some extensions out; :func:`character_name` strips every
  parenthesised extension (``(V.O.)``, ``(O.S.)``, ``(CONT'D)``) and folds the case.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fountain import ElementType, FountainElement, FountainParser

from .fountain import normalize
from .pages import US_LETTER, PageLayout, paginate_document, wrap

__all__ = [
    "CharacterStats",
    "Heading",
    "LocationStats",
    "SceneStats",
    "ScriptStats",
    "character_name",
    "parse_heading",
    "script_stats",
]

# "INT.", "EXT", "INT./EXT.", "EXT/INT", "I/E", "EST." at the start of a heading (Fountain 1.1's
# heading prefixes). The prefix ends with a dot, or before a space or the end: "INTERIOR" is not one.
_SETTING = re.compile(
    r"^(?:(?P<mixed>INT\.?\s*/\s*EXT|EXT\.?\s*/\s*INT|I\.?\s*/\s*E)|(?P<int>INT)|(?P<ext>EXT|EST))(?:\.|(?=\s|$))",
    re.IGNORECASE,
)
# Separators between the parts of a heading: " - ", " -- ", " — ", ", ".
_PART_SEPARATOR = re.compile(r"(\s+--?\s+|\s*\u2014\s*|,\s+)")
# Words that make a heading part a time of day (or a time relative to the previous scene).
_TIME_WORDS = re.compile(
    r"\b(?:DAY|DAYS|NIGHT|NIGHTS|MORNING|AFTERNOON|EVENING|DAWN|DUSK|SUNSET|SUNRISE|TWILIGHT|NOON|MIDNIGHT"
    r"|HOUR|HOURS|LATER|CONTINUOUS|CONTINUED|SAME|MOMENT|MOMENTS|MINUTE|MINUTES)\b",
    re.IGNORECASE,
)
# Bracketed or parenthesised notes in a time part: "NIGHT (1973)", "DAY [FLASHBACK]".
_ANNOTATION = re.compile(r"\[[^\]]*\]|\([^)]*\)")
# A spoken word: letters or digits, with inner apostrophes or hyphens ("don't", "twenty-one").
_WORD = re.compile(r"[^\W_]+(?:['\u2019-][^\W_]+)*")


@dataclass(frozen=True)
class Heading:
    """The parts of a scene heading.

    Attributes:
        setting: ``"INT"``, ``"EXT"`` or ``"INT/EXT"`` (``I/E`` and ``EXT./INT.`` too); ``"EXT"`` for
            ``EST.`` (an establishing shot is exterior); None for a heading without a prefix (a
            forced ``.HEADING``).
        location: The place, upper case, whitespace collapsed: the heading without its prefix and
            without its time-of-day part.
        time_of_day: The first part after the location that names a time ("NIGHT", "LATER",
            "CONTINUOUS", "A MOMENT LATER"), without bracketed notes; None when no part does.
    """

    setting: str | None
    location: str
    time_of_day: str | None


@dataclass(frozen=True)
class CharacterStats:
    """What one character says.

    Attributes:
        name: The normalised name (:func:`character_name`).
        scenes: Scenes in which the character has at least one cue.
        speeches: Cues (dialogue blocks), a dual-dialogue side counting as one.
        dialogue_lines: Printed lines of dialogue (wrapped at the dialogue width, a dual column at
            its narrower width); cues and parentheticals are not counted.
        words: Words spoken: in dialogue and sung lyrics, not in parentheticals.
    """

    name: str
    scenes: int
    speeches: int
    dialogue_lines: int
    words: int


@dataclass(frozen=True)
class LocationStats:
    """One location's share of the script.

    Attributes:
        name: The location as :func:`parse_heading` gives it.
        scenes: Scenes set there.
        eighths: Their length, in eighths of a page.
        settings: The settings (``"INT"``, ``"EXT"``, ``"INT/EXT"``) its headings give, in order of
            first use; empty when none has a prefix.
        times: The times of day its headings give, in order of first use.
    """

    name: str
    scenes: int
    eighths: int
    settings: tuple[str, ...]
    times: tuple[str, ...]


@dataclass(frozen=True)
class SceneStats:
    """One scene: its length and what its heading says.

    Attributes:
        scene_number: 1-based, as ``core.screenplay.fountain.Scene.number``.
        heading: As ``core.screenplay.fountain.Scene.heading``.
        first_line: 1-based line of the heading in the Fountain text.
        eighths: Length in eighths of a page (at least 1).
        seconds: Runtime estimate: ``eighths / 8`` pages at the script's seconds per page.
        setting: See :class:`Heading`.
        location: See :class:`Heading`.
        time_of_day: See :class:`Heading`.
        characters: Normalised names of the characters with a cue in the scene, in order of first cue.
    """

    scene_number: int
    heading: str
    first_line: int
    eighths: int
    seconds: float
    setting: str | None
    location: str
    time_of_day: str | None
    characters: tuple[str, ...]


@dataclass(frozen=True)
class ScriptStats:
    """Statistics of a whole script.

    Attributes:
        pages: Length in pages, from eighths: ``eighths / 8`` (a float; the eighths of each scene are
            rounded up, so this is a little more than the printed body's exact length).
        page_count: Printed pages of the script body (whole sheets; the title page is not one).
        eighths: Eighths of all scenes plus those of anything before the first heading.
        seconds_per_page: The runtime rule used (60.0: a page a minute).
        runtime_seconds: Runtime estimate, ``pages * seconds_per_page``.
        scenes: One :class:`SceneStats` per scene, in order.
        characters: Normalised name -> :class:`CharacterStats`, in order of first cue.
        locations: Location -> :class:`LocationStats`, in order of first scene. Treat both mappings
            as read-only.
    """

    pages: float
    page_count: int
    eighths: int
    seconds_per_page: float
    runtime_seconds: float
    scenes: tuple[SceneStats, ...]
    characters: dict[str, CharacterStats]
    locations: dict[str, LocationStats]


def parse_heading(heading: str) -> Heading:
    """Split a scene heading into setting, location and time of day.

    ``"INT.  WILL'S BEDROOM - NIGHT (1973)"`` gives ``("INT", "WILL'S BEDROOM", "NIGHT")``;
    ``"INT. HALLWAY, SCOTT'S BUILDING, A MOMENT LATER"`` gives ``("INT", "HALLWAY, SCOTT'S BUILDING",
    "A MOMENT LATER")``; ``"SNIPER SCOPE POV"`` gives ``(None, "SNIPER SCOPE POV", None)``. The parts
    are separated by `` - ``, `` -- ``, `` — `` or ``, ``; the first part is always location.
    """
    text = " ".join(heading.split()).lstrip(".").strip()
    setting: str | None = None
    match = _SETTING.match(text)
    if match:
        setting = "INT/EXT" if match.group("mixed") else "INT" if match.group("int") else "EXT"
        text = text[match.end() :].lstrip(". ")
    parts = _PART_SEPARATOR.split(text)
    time_of_day: str | None = None
    location = text
    for index in range(2, len(parts), 2):
        if _TIME_WORDS.search(parts[index]):
            location = "".join(parts[: index - 1])
            cleaned = " ".join(_ANNOTATION.sub(" ", parts[index]).split())
            if not _TIME_WORDS.search(cleaned):
                cleaned = " ".join(re.sub(r"[\[\]()]", " ", parts[index]).split())
            time_of_day = cleaned.upper()
            break
    return Heading(setting=setting, location=_clean_location(location), time_of_day=time_of_day)


def character_name(cue: str) -> str:
    """A character cue's name, normalised so that every cue of one character gives the same string:
    without parenthesised extensions (``(V.O.)``, ``(O.S.)``, ``(CONT'D)``, an unclosed ``(CONT'D``),
    a forcing ``@`` or a dual-dialogue ``^``, whitespace collapsed, case folded to upper case (the way
    cues print: ``@McCLANE`` and ``MCCLANE`` are one name)."""
    name = re.sub(r"\([^)]*\)?", " ", cue.replace("^", " ").strip().removeprefix("@"))
    return " ".join(name.split()).upper()


def script_stats(screenplay_text: str, seconds_per_page: float = 60.0, layout: PageLayout = US_LETTER) -> ScriptStats:
    """Length, runtime estimate, characters and locations of a Fountain screenplay.

    Args:
        screenplay_text: Fountain markup (normalised with :func:`core.screenplay.fountain.normalize`).
        seconds_per_page: Screen time one page takes, in seconds (60.0: the page-a-minute rule).
        layout: Page geometry for the eighths (:data:`core.screenplay.pages.US_LETTER`).

    Returns:
        The :class:`ScriptStats`. Cost: one fountain-py parse plus the pagination (about 50 ms for the
        146 KB *Big Fish*).
    """
    if seconds_per_page <= 0:
        raise ValueError(f"seconds_per_page must be positive, got {seconds_per_page}")
    text = normalize(screenplay_text)
    document = FountainParser().parse(text)
    pagination = paginate_document(document, text, layout)

    speakers = _Speakers(layout)
    scene = -1
    for element in document.elements:
        if element.type is ElementType.SCENE_HEADING:
            scene += 1
        speakers.add(element, scene)

    scenes: list[SceneStats] = []
    locations: dict[str, _Location] = {}
    for index, length in enumerate(pagination.scenes):
        heading = parse_heading(length.heading)
        scenes.append(
            SceneStats(
                scene_number=length.scene_number,
                heading=length.heading,
                first_line=length.first_line,
                eighths=length.eighths,
                seconds=length.eighths / 8 * seconds_per_page,
                setting=heading.setting,
                location=heading.location,
                time_of_day=heading.time_of_day,
                characters=tuple(speakers.by_scene.get(index, ())),
            )
        )
        place = locations.setdefault(heading.location, _Location())
        place.add(heading, length.eighths)

    eighths = pagination.eighths
    pages = eighths / 8
    return ScriptStats(
        pages=pages,
        page_count=pagination.pages,
        eighths=eighths,
        seconds_per_page=seconds_per_page,
        runtime_seconds=pages * seconds_per_page,
        scenes=tuple(scenes),
        characters={name: speaker.stats(name) for name, speaker in speakers.people.items()},
        locations={name: place.stats(name) for name, place in locations.items()},
    )


def _clean_location(location: str) -> str:
    """Upper case, whitespace collapsed, without trailing separators ("OUTSIDE," -> "OUTSIDE")."""
    return " ".join(location.split()).strip(" ,-\u2014").upper()


class _Speaker:
    """Counters for one character while the elements are read."""

    __slots__ = ("scenes", "speeches", "dialogue_lines", "words")

    def __init__(self) -> None:
        self.scenes: set[int] = set()
        self.speeches = 0
        self.dialogue_lines = 0
        self.words = 0

    def stats(self, name: str) -> CharacterStats:
        return CharacterStats(
            name=name,
            scenes=len(self.scenes - {-1}),
            speeches=self.speeches,
            dialogue_lines=self.dialogue_lines,
            words=self.words,
        )


class _Speakers:
    """Who speaks, how much and where, from fountain-py's elements in order."""

    def __init__(self, layout: PageLayout) -> None:
        self.layout = layout
        self.people: dict[str, _Speaker] = {}
        self.by_scene: dict[int, list[str]] = {}
        self.current: _Speaker | None = None
        self.last_line = 0  # 1-based line of the current speech's last element

    def add(self, element: FountainElement, scene: int) -> None:
        kind = element.type
        adjacent = element.line_number == self.last_line + 1
        self.last_line = element.line_number
        if kind is ElementType.CHARACTER:
            self.current = self._cue(element.text, scene)
        elif kind is ElementType.DUAL_DIALOGUE:
            self.current = None
            for side in ("left", "right"):
                character = element.metadata.get(f"{side}_character")
                speech = element.metadata.get(f"{side}_dialogue")
                if isinstance(character, FountainElement):
                    speaker = self._cue(character.text, scene)
                    for part in speech if isinstance(speech, list) else ():
                        self._speak(speaker, part, dual=True)
        elif self.current is not None and (
            kind is ElementType.DIALOGUE or (kind is ElementType.LYRICS and adjacent)
        ):  # fountain-py may keep a lyric after a blank line in the speech; pages.py ends the speech there too
            self._speak(self.current, element, dual=False)
        elif kind is not ElementType.PARENTHETICAL and kind not in _INVISIBLE:
            self.current = None  # anything printed other than a parenthetical ends the speech

    def _cue(self, cue: str, scene: int) -> _Speaker | None:
        name = character_name(cue)
        if not name:
            return None
        speaker = self.people.setdefault(name, _Speaker())
        speaker.speeches += 1
        if scene not in speaker.scenes:
            speaker.scenes.add(scene)
            if scene >= 0:
                self.by_scene.setdefault(scene, []).append(name)
        return speaker

    def _speak(self, speaker: _Speaker | None, part: FountainElement, dual: bool) -> None:
        if speaker is None or part.type is ElementType.PARENTHETICAL:
            return
        width = self.layout.width("dialogue", dual)
        for line in part.text.split("\n"):
            speaker.dialogue_lines += len(wrap(line, width))
            speaker.words += len(_WORD.findall(line))


# Elements that print nothing: they neither end nor continue a speech.
_INVISIBLE = frozenset({ElementType.NOTE, ElementType.BONEYARD, ElementType.SECTION, ElementType.SYNOPSIS})


class _Location:
    """Counters for one location while the scenes are read."""

    __slots__ = ("scenes", "eighths", "settings", "times")

    def __init__(self) -> None:
        self.scenes = 0
        self.eighths = 0
        self.settings: dict[str, None] = {}
        self.times: dict[str, None] = {}

    def add(self, heading: Heading, eighths: int) -> None:
        self.scenes += 1
        self.eighths += eighths
        if heading.setting:
            self.settings.setdefault(heading.setting)
        if heading.time_of_day:
            self.times.setdefault(heading.time_of_day)

    def stats(self, name: str) -> LocationStats:
        return LocationStats(
            name=name, scenes=self.scenes, eighths=self.eighths, settings=tuple(self.settings), times=tuple(self.times)
        )
