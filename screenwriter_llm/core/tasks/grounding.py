"""Grounded answers: every quotation in an answer is checked against the screenplay it claims to quote.

Pure Python (never imports ``bpy``). When a grounded task's answer ends, :func:`check_quotes` finds the
quotations in it (:func:`find_quotes`) and looks each one up in the script; the report's
:meth:`GroundingReport.summary` is what the writer reads under the answer, and :func:`line_of_quote`
anchors a note to the line where a quotation starts.

What counts as a quotation
    Text between straight (``"..."``) or curly (``“...”``) double quotation marks, within one paragraph
    (a blank line ends an unclosed quotation), of **three words or more** (fewer words are too common to
    prove anything: "To retirement." is in every toast). Marks inside Markdown code (fenced blocks,
    `` `inline` `` spans) are not quotations. A straight mark followed by white space cannot open a
    quotation (``12" vinyl``); a mixed pair (``“...“`` restarts, ``“..."`` closes) is accepted because
    models mix them.

How a quotation is compared (the same rules on both sides)
    Both texts are reduced to their sequence of words, and the quotation's words must appear
    consecutively in the script's. A *word* is a run of letters and digits, with inner apostrophes
    (``we've``, ``Beer's``). So:

    - white space, line breaks included, counts as one separator: a quotation may span the lines of a
      character's dialogue (Fountain puts each dialogue line on its own line after the cue);
    - case is ignored (``str.casefold``), and text is NFKC-normalised first (no-break spaces, ligatures,
      the ``…`` character becomes ``...``);
    - curly and straight quotation marks, dashes (``—``, ``–``, ``--``, ``-``), ellipses (``…``,
      ``...``) and every other punctuation mark are separators, so a quotation that turns ``--`` into
      ``—`` or drops the final full stop still matches; a changed word never does;
    - apostrophe variants (``’`` ``‘`` ``ʼ`` ``′`` `` ` ``) are the straight ``'``;
    - Fountain markup that is not spoken text is removed from the script first: emphasis (``*``,
      ``_``, ``\\``), notes (``[[...]]``, which may hold earlier model output) and boneyard (``/* ... */``,
      deleted text). A parenthetical line inside dialogue (``(pause)``) may be skipped by a quotation
      that runs through it, or included in it.

Line numbers are 1-based, counted after CRLF/CR line endings become LF
(:func:`screenwriter_llm.core.screenplay.fountain.normalize`), so they equal ``Text.lines`` index + 1 in
Blender. Nothing here raises on odd input: an empty answer has no quotations; an empty script finds none.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from dataclasses import dataclass, field

from ..screenplay.fountain import normalize

__all__ = [
    "MIN_WORDS",
    "GroundingReport",
    "Quote",
    "ScriptIndex",
    "check_quotes",
    "find_quotes",
    "line_of_quote",
    "words",
]

#: A quotation needs at least this many words to be checked.
MIN_WORDS = 3

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "′": "'", "`": "'"})
# Letters and digits (``[^\W_]``: \w without the underscore), with inner apostrophes.
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
# Emphasis markup and its escape character: deleted, not turned into separators (``un*real*`` = unreal).
_MARKUP = str.maketrans("", "", "*_\\")
# Notes and boneyard may span lines; they are blanked with their line breaks kept.
_NOT_SPOKEN = re.compile(r"\[\[.*?\]\]|/\*.*?\*/", re.DOTALL)
_PARENTHETICAL = re.compile(r"^\s*\(.*\)\s*$")
# Markdown code in an answer: fenced blocks (``` or ~~~, to the closing fence or the end) and inline spans.
_CODE = re.compile(r"^ {0,3}(`{3,}|~{3,}).*?(?:^ {0,3}\1[ \t]*$|\Z)|`[^`\n]+`", re.DOTALL | re.MULTILINE)
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_OPEN = {'"', "“"}
_CLOSE = {'"', "”"}


def words(text: str) -> list[str]:
    """The words of ``text`` as the comparison sees them: NFKC-normalised, apostrophes made straight,
    emphasis markup deleted, case-folded; punctuation and white space are separators.

    >>> words("Beer’s *ready* -- isn't it…")
    ["beer's", 'ready', "isn't", 'it']
    """
    plain = unicodedata.normalize("NFKC", text).translate(_APOSTROPHES).translate(_MARKUP).casefold()
    return _WORD.findall(plain)


@dataclass(frozen=True)
class Quote:
    """One quotation found in an answer.

    Attributes:
        text: The quoted text as written, without the quotation marks.
        start: Offset in the answer of the quotation's first character (after the opening mark).
        end: Offset just past its last character (the closing mark's offset): ``answer[start:end] == text``.
    """

    text: str
    start: int
    end: int

    def display(self) -> str:
        """The text on one line (white-space runs, line breaks included, become one space)."""
        return " ".join(self.text.split())


@dataclass(frozen=True)
class GroundingReport:
    """Which quotations of an answer were found in the script.

    Attributes:
        found: Quotations found, in answer order.
        missing: Quotations not found, in answer order.
    """

    found: list[Quote] = field(default_factory=list)
    missing: list[Quote] = field(default_factory=list)

    @property
    def checked(self) -> int:
        """How many quotations (of at least :data:`MIN_WORDS` words) were checked."""
        return len(self.found) + len(self.missing)

    def summary(self) -> str:
        """The lines shown under the answer, without a trailing newline::

            Quotes checked: 2 of 3 found in the script.
            Not found in the script: “I never said that to anyone”

        One ``Not found`` line per missing quotation (its text on one line); with none checked:
        ``Quotes checked: no quotations of three words or more.``
        """
        if not self.checked:
            return "Quotes checked: no quotations of three words or more."
        lines = [f"Quotes checked: {len(self.found)} of {self.checked} found in the script."]
        lines += [f"Not found in the script: “{quote.display()}”" for quote in self.missing]
        return "\n".join(lines)


class ScriptIndex:
    """A script's words with their line numbers, built once and searched for many quotations.

    Two word sequences are kept: every word, and every word outside parenthetical lines, so a
    quotation that runs through ``(pause)`` is found with or without it. Building one for the 146 KB
    *Big Fish* script takes a few tens of milliseconds; a search is a substring search.
    """

    def __init__(self, script: str) -> None:
        text = _NOT_SPOKEN.sub(lambda match: re.sub(r"[^\n]", " ", match.group()), normalize(script))
        every: list[tuple[str, int]] = []
        spoken: list[tuple[str, int]] = []
        for number, line in enumerate(text.split("\n"), start=1):
            line_words = [(word, number) for word in words(line)]
            every += line_words
            if not _PARENTHETICAL.match(line):
                spoken += line_words
        self._sequences = (_Sequence(every), _Sequence(spoken))

    def find(self, quote: Quote | str, *, first_line: int | None = None, last_line: int | None = None) -> int | None:
        """The 1-based line where the first occurrence of ``quote`` starts, or None when it is not in the script.

        Args:
            quote: A :class:`Quote` or the quoted text.
            first_line: When given, only occurrences starting on this line or after count.
            last_line: When given, only occurrences starting on this line or before count.
        """
        needle = words(quote.text if isinstance(quote, Quote) else quote)
        if not needle:
            return None
        starts = [line for sequence in self._sequences if (line := sequence.find(needle, first_line, last_line))]
        return min(starts) if starts else None


class _Sequence:
    """Words joined by single spaces (with a space at each end), the offset and line of each word."""

    def __init__(self, tokens: list[tuple[str, int]]) -> None:
        self.offsets: list[int] = []
        self.lines = [line for _, line in tokens]
        parts = []
        offset = 1
        for word, _ in tokens:
            self.offsets.append(offset)
            parts.append(word)
            offset += len(word) + 1
        self.text = " " + " ".join(parts) + " "

    def find(self, needle: list[str], first_line: int | None, last_line: int | None) -> int | None:
        pattern = " " + " ".join(needle) + " "
        position = self.text.find(pattern)
        while position >= 0:
            line = self.lines[bisect.bisect_left(self.offsets, position + 1)]
            if last_line is not None and line > last_line:
                return None  # words are in line order: later occurrences start later still
            if first_line is None or line >= first_line:
                return line
            position = self.text.find(pattern, position + 1)
        return None


def find_quotes(answer: str) -> list[Quote]:
    """The quotations of :data:`MIN_WORDS` words or more in ``answer``, in order (see the module docstring).

    Returns:
        One :class:`Quote` per quotation; an answer without any gives ``[]``.
    """
    masked = _CODE.sub(lambda match: " " * len(match.group()), answer)
    quotes: list[Quote] = []
    opened: int | None = None  # offset just after the opening mark
    for index, char in enumerate(masked):
        if opened is not None and char in _CLOSE and not (char == '"' and masked[index - 1].isspace()):
            text = answer[opened:index]
            if _BLANK_LINE.search(text) is None and len(words(text)) >= MIN_WORDS:
                quotes.append(Quote(text=text, start=opened, end=index))
            opened = None
        elif char in _OPEN and not (char == '"' and (index + 1 == len(masked) or masked[index + 1].isspace())):
            opened = index + 1  # a new opening mark while one is open: the earlier one was stray
    return quotes


def check_quotes(answer: str, script: str | ScriptIndex) -> GroundingReport:
    """Check every quotation of ``answer`` against ``script``.

    Args:
        answer: The model's answer (Markdown or plain text).
        script: The screenplay's Fountain text, or a :class:`ScriptIndex` of it to reuse.

    Returns:
        A :class:`GroundingReport`; its :meth:`~GroundingReport.summary` is the text to show.
    """
    index = script if isinstance(script, ScriptIndex) else ScriptIndex(script)
    report = GroundingReport()
    for quote in find_quotes(answer):
        (report.found if index.find(quote) is not None else report.missing).append(quote)
    return report


def line_of_quote(
    quote: Quote | str,
    script: str | ScriptIndex,
    *,
    first_line: int | None = None,
    last_line: int | None = None,
) -> int | None:
    """The 1-based line of ``script`` where ``quote`` starts (its first occurrence), for anchoring a note.

    Args:
        quote: A :class:`Quote` or the quoted text.
        script: The screenplay's Fountain text, or a :class:`ScriptIndex` of it.
        first_line: Optional 1-based bound: only an occurrence starting on this line or after (a scene's heading).
        last_line: Optional 1-based bound: only an occurrence starting on this line or before (a scene's end).

    Returns:
        The line number, or None when the quotation is not in the script (within the bounds, if given).
    """
    index = script if isinstance(script, ScriptIndex) else ScriptIndex(script)
    return index.find(quote, first_line=first_line, last_line=last_line)
