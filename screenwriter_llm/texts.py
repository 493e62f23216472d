"""Every Text the add-on owns: the one naming rule, the ID-property keys it keeps on them, and how text is
written into them (the sinks that use these are in :mod:`.sinks`). Main thread only.

Text the add-on writes is made safe for ``Text.write`` first (:func:`writable`): ``Text.write`` is C and stops
at a NUL byte.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

import bpy

from .core.events import Cancelled, Failed, Finished
from .core.tasks import chat

if TYPE_CHECKING:
    from .core.jobs.job import Job

#: Blender limits ID names to 63 bytes before 5.0 (MAX_ID_NAME - 3); every name stays within it.
MAX_NAME_BYTES = 63
#: File-name endings of screenplays, dropped from output names ("pilot.fountain" -> "pilot - ...").
SCRIPT_SUFFIXES = (".fountain", ".spmd", ".txt")

# --- ID-property keys on Texts the add-on writes (none holds a secret) ------------------------------
#: Marks a Text as the add-on's: it writes into no other.
OUTPUT_MARKER = "screenwriter_output"
#: The name of the screenplay Text an output belongs to (two scripts never share an output).
SOURCE_KEY = "screenwriter_source"
#: Set once an answer finished normally (whole-script runs skip those).
COMPLETE_MARKER = "screenwriter_complete"
#: [prompt, completion] tokens of a finished answer, when the provider reported usage.
TOKENS_KEY = "screenwriter_tokens"
#: The answer's metadata as JSON: model, tokens, estimated flag, USD and rates, timing.
USAGE_KEY = "screenwriter_usage"
#: The last request of an output Text as JSON (task, settings, messages; never a key), for Regenerate.
REQUEST_KEY = "screenwriter_request"
#: The conversation of a chat Text (``core.tasks.chat.Conversation`` as JSON).
CHAT_KEY = "screenwriter_chat"
#: A token naming the job writing a Text, to find it again after the writer renamed it mid-stream.
WRITER_KEY = "screenwriter_writer"
#: Largest ``int`` RNA accepts; Blender clamps a cursor position to the end of the line.
_END_OF_LINE = 2**31 - 1


class SinkError(Exception):
    """An output cannot be written; the message says why and what to do. Nothing of the user's changed."""


# --- names: the one rule ---------------------------------------------------------------------------


def script_stem(source_name: str) -> str:
    """A screenplay Text's name without a screenplay file ending (``"pilot.fountain"`` -> ``"pilot"``)."""
    lowered = source_name.lower()
    for suffix in SCRIPT_SUFFIXES:
        if lowered.endswith(suffix) and len(source_name) > len(suffix):
            return source_name[: -len(suffix)]
    return source_name


def _clip(text: str, limit: int) -> str:
    """``text`` shortened to at most ``limit`` UTF-8 bytes, never inside a character."""
    return text.encode("utf-8")[:limit].decode("utf-8", "ignore")


def _tag(value: str) -> str:
    """A short, stable tag of ``value`` (6 hex digits of its SHA-1) that tells two clipped names apart."""
    return hashlib.sha1(value.encode("utf-8")).hexdigest()[:6]


def fit_name(stem: str, suffix: str, key: str | None = None) -> str:
    """``stem + suffix`` within Blender's 63-byte limit. When it does not fit (or ``key`` asks for it), the stem
    is clipped and a tag of ``key`` (default: the stem) is added, so two names that differ only past the limit
    never become one: ``"<stem…> ~1a2b3c<suffix>"``."""
    whole = stem + suffix
    if key is None and len(whole.encode("utf-8")) <= MAX_NAME_BYTES:
        return whole
    tag = f" ~{_tag(key if key is not None else stem)}"
    room = MAX_NAME_BYTES - len((tag + suffix).encode("utf-8"))
    return _clip(stem, max(0, room)).rstrip() + tag + suffix


def output_name(source_name: str, purpose: str) -> str:
    """The name of the output ``purpose`` (``"Scene 3 Analysis"``, ``"Chat"``, ``"Coverage"``...) of the
    screenplay Text ``source_name``: ``"<script stem> - <purpose>"``, unique per source Text.

    When that name is another script's output (``pilot`` and ``pilot.fountain`` share a stem), or does not
    fit in 63 bytes, the name carries a tag of the full source name instead (see :func:`fit_name`). A Text of
    that name the add-on did not write keeps the plain name: writing into it is refused with a message.
    """
    suffix = f" - {purpose}"
    stem = script_stem(source_name)
    plain = stem + suffix
    if len(plain.encode("utf-8")) <= MAX_NAME_BYTES:
        existing = bpy.data.texts.get(plain)
        if existing is None or not existing.get(OUTPUT_MARKER) or existing.get(SOURCE_KEY, source_name) == source_name:
            return plain
    return fit_name(stem, suffix, key=source_name)


def previous_name(name: str) -> str:
    """Where an earlier answer of the output ``name`` is kept: ``"<name> (previous)"``; always another name
    than ``name``, also when it has to be clipped (then tagged with ``name``)."""
    suffix = " (previous)"
    fits = len((name + suffix).encode("utf-8")) <= MAX_NAME_BYTES
    return fit_name(name, suffix, key=None if fits else name)


def analysis_name(source_name: str, scene_number: int) -> str:
    """The output name of scene ``scene_number``'s analysis: ``"<stem> - Scene N Analysis"``."""
    return output_name(source_name, f"Scene {scene_number} Analysis")


def conversation_name(source_name: str) -> str:
    """The conversation Text of a screenplay: ``"<stem> - Chat"``."""
    return output_name(source_name, "Chat")


def coverage_name(source_name: str) -> str:
    """The whole-script coverage report of a screenplay: ``"<stem> - Coverage"``."""
    return output_name(source_name, "Coverage")


# --- writing -----------------------------------------------------------------------------------------


#: Characters ``Text.write`` must not get: C0 controls but tab and newline, DEL, C1 controls, and carriage returns.
_UNWRITABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def writable(piece: str) -> str:
    """``piece`` made safe for ``Text.write``: control characters other than newline and tab (a NUL stops
    ``Text.write`` and drops the rest; escapes would garble the editor) become U+FFFD, carriage returns
    become newlines."""
    if not _UNWRITABLE.search(piece):
        return piece
    out = []
    for char in piece.replace("\r\n", "\n").replace("\r", "\n"):
        out.append(char if char in "\n\t" or char.isprintable() or ord(char) > 0x9F else "\ufffd")
    return "".join(out)


def append_to_text(text: bpy.types.Text, piece: str) -> None:
    """Append ``piece`` at the end of ``text`` (made :func:`writable`).

    ``Text.write`` inserts at the cursor (replacing any selection), so the cursor is first collapsed to the end
    of the last line: the user may have clicked into the output Text meanwhile. ``cursor_set`` takes a line and
    a byte offset that Blender clamps to the last line and its length (``txt_move_to`` in ``text.cc``); a
    character count would land inside a multi-byte UTF-8 character, so the largest values are passed and
    clamped instead. No ``len(text.lines)``: it builds every line, O(lines) per tick.
    """
    text.cursor_set(_END_OF_LINE, character=_END_OF_LINE)
    text.write(writable(piece))


def _cursor_mark(text: bpy.types.Text) -> tuple[int, ...]:
    """Where the cursor and the selection's end are in ``text``, cheap to read (no line is walked): their lines'
    pointers, their byte offsets, and the cursor line's length in characters (a line freed and allocated again
    at the same address would also need the same length to pass for the one the cursor was on)."""
    line = text.current_line
    return (
        line.as_pointer(),
        text.current_character,
        text.select_end_line.as_pointer(),
        text.select_end_character,
        len(line.body),
    )


#: Longest line written into a Text (characters): ``Text.write`` costs grow with the square of a line's length (a
#: 1 MB one-line answer took 15 s to write, 5 MB froze Blender for over 80 s; the same 5 MB in lines took 0.7 s), so
#: longer lines are broken at write time (after a space when there is one) and the Text says so.
MAX_LINE_CHARS = 100_000
#: Most characters written into one Text per pump tick (about 20 ms of ``Text.write`` on this class of machine);
#: the rest waits for the next tick, so a huge answer never blocks the main thread.
TICK_CHARS = 128 * 1024


class StreamWriter:
    """The text of one output on its way into a Text: redacted, made :func:`writable`, long lines broken, and
    written at most :data:`TICK_CHARS` per :meth:`flush`.

    ``secrets``: every key the add-on knows (they are redacted from the model's output before it is written,
    also when a key arrives split across pieces: the last ``len(longest key) - 1`` characters wait for the next
    piece or the end).
    """

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        from .core.provider.redact import MIN_SECRET, environment_secrets

        # The environment's keys are read once here, not on every piece (redact(environment=False) in feed).
        known = {s for s in (*secrets, *environment_secrets()) if s and len(s) >= MIN_SECRET}
        self._secrets = tuple(sorted(known, key=len, reverse=True))
        self._hold = max((len(s) for s in self._secrets), default=1) - 1
        self._raw = ""
        self._ready: list[str] = []
        self._ready_chars = 0
        self._column = 0
        #: Where the cursor was after the last flush (:func:`_cursor_mark`), None before the first.
        self._mark: tuple[int, ...] | None = None
        #: How many lines were broken because they were longer than :data:`MAX_LINE_CHARS`.
        self.broken_lines = 0

    def feed(self, piece: str, final: bool = False) -> None:
        """Take the next piece of the answer (``final``: nothing more will come, release what was held back)."""
        from .core.provider.redact import redact

        self._raw += piece
        if self._secrets:
            self._raw = redact(self._raw, self._secrets, environment=False)
        keep = 0 if final else self._held_tail()
        cut = len(self._raw) - keep
        out, self._raw = self._raw[:cut], self._raw[cut:]
        if out:
            self._queue(writable(out))

    def _held_tail(self) -> int:
        """How many characters at the end may be the start of a key: only those wait for the next piece (holding
        back a whole key's length would show text about 40 tokens late for a 164-character key)."""
        raw = self._raw
        for size in range(min(self._hold, len(raw)), 0, -1):
            tail = raw[-size:]
            if any(secret.startswith(tail) for secret in self._secrets):
                return size
        return 0

    def _queue(self, text: str) -> None:
        parts: list[str] = []
        for line in text.split("\n"):
            if parts:
                parts.append("\n")
                self._column = 0
            while self._column + len(line) > MAX_LINE_CHARS:
                room = MAX_LINE_CHARS - self._column
                space = line.rfind(" ", 0, room)
                cut = space + 1 if space >= room // 2 else room
                parts.append(line[:cut] + "\n")
                self.broken_lines += 1
                line = line[cut:]
                self._column = 0
            parts.append(line)
            self._column += len(line)
        chunk = "".join(parts)
        self._ready.append(chunk)
        self._ready_chars += len(chunk)

    @property
    def pending(self) -> bool:
        """True while text waits to be written."""
        return bool(self._ready_chars or self._raw)

    def flush(self, text: bpy.types.Text, limit: int = TICK_CHARS) -> bool:
        """Write up to ``limit`` characters of what is ready at the end of ``text``; True when anything was.

        The cursor is moved to the end (``cursor_set``, which walks every line: its cost grows with the answer, 18 ms
        per 100k tokens against 5 ms without it, ``docs/PERFORMANCE.md``) only when it is not where the last flush
        left it, at the end (:func:`_cursor_mark`): the writer clicked, selected or typed in the Text meanwhile,
        or something else wrote to it."""
        if not self._ready_chars:
            return False
        ready = "".join(self._ready)
        now, rest = ready[:limit], ready[limit:]
        self._ready = [rest] if rest else []
        self._ready_chars = len(rest)
        if self._mark is None or _cursor_mark(text) != self._mark:
            text.cursor_set(_END_OF_LINE, character=_END_OF_LINE)
        text.write(now)  # already made writable when it was queued (_queue takes writable(out))
        self._mark = _cursor_mark(text)
        return True

    def note(self) -> str:
        """What to say at the end of the Text about broken lines ('' when none were)."""
        if not self.broken_lines:
            return ""
        return (
            f"\n[Screenwriter LLM: {self.broken_lines} line(s) longer than {MAX_LINE_CHARS:,} characters were broken "
            "to keep Blender responsive.]\n"
        )


def is_owned(text: bpy.types.Text | None) -> bool:
    """True when ``text`` is a Text the add-on wrote."""
    return text is not None and bool(text.get(OUTPUT_MARKER))


def prepare_output(name: str, source: bpy.types.Text | None, busy: Callable[[str], bool]) -> bpy.types.Text:
    """The output Text ``name``, created or emptied for a new answer, marked with its source.

    An earlier answer in it is kept as :func:`previous_name`. ``busy(name)`` says whether a job is writing
    into a Text now.

    Raises:
        SinkError: ``name`` is the screenplay itself, a Text the add-on did not write, or one a job is writing.
    """
    existing = bpy.data.texts.get(name)
    if existing is None:
        text = bpy.data.texts.new(name)
        text[OUTPUT_MARKER] = True
        if source is not None:
            text[SOURCE_KEY] = source.name
        return text
    if source is not None and existing == source:
        raise SinkError(f"The output Text '{name}' is the screenplay itself; choose another output name.")
    if not existing.get(OUTPUT_MARKER):
        raise SinkError(
            f"A Text named '{name}' already exists and was not written by Screenwriter LLM; "
            "choose another output name or rename that Text."
        )
    if busy(name):
        raise SinkError(f"An answer is already streaming into '{name}'; wait for it or cancel it first.")
    if existing.as_string().strip():
        keep_name = previous_name(name)
        old = bpy.data.texts.get(keep_name)
        if old is not None and old.get(OUTPUT_MARKER) and old != existing:
            bpy.data.texts.remove(old)
        keep = existing.copy()
        keep.name = keep_name
        for key in (REQUEST_KEY, WRITER_KEY):
            if keep.get(key) is not None:
                del keep[key]  # Regenerate works on the current answer only
    existing.clear()
    if source is not None:
        existing[SOURCE_KEY] = source.name
    return existing


def find_text(name: str, token: str) -> bpy.types.Text | None:
    """The Text ``name``, or, when it was renamed, the Text carrying the writer ``token``."""
    text = bpy.data.texts.get(name)
    if text is not None and (not token or text.get(WRITER_KEY, token) == token):
        return text
    if token:
        for candidate in bpy.data.texts:
            if candidate.get(WRITER_KEY) == token:
                return candidate
    return None


def answer_metadata(job: Job) -> dict[str, object]:
    """What an answer cost and how fast it came, as stored on its Text (tokens, USD, seconds)."""
    cost = job.cost
    return {
        "model": job.answered_by or job.request.model,
        "input_tokens": cost.input_tokens if cost else None,
        "output_tokens": cost.output_tokens if cost else None,
        "estimated_tokens": cost.estimated_tokens if cost else None,
        "cost_usd": cost.usd if cost else None,
        "rates_usd_per_token": list(cost.rates) if cost and cost.rates else None,
        "pricing": cost.pricing if cost else None,
        "time_to_first_token_s": job.time_to_first_token,
        "duration_s": job.duration,
    }


def closing_note(job: Job) -> str:
    """The note written after an answer that did not end normally ('' when it did). The answer already
    written stays; the note says what stopped it and marks it as incomplete."""
    outcome = job.outcome
    lead = "\n\n" if job.chars_received else ""
    if isinstance(outcome, Failed):
        what = "The answer above is incomplete." if job.chars_received else "No answer was received."
        return f"{lead}[Screenwriter LLM: stopped. {what} {outcome.message}]\n"
    if isinstance(outcome, Cancelled):
        what = "the answer above is incomplete" if job.chars_received else "nothing had arrived yet"
        return f"{lead}[Screenwriter LLM: {outcome.reason}; {what}.]\n"
    if isinstance(outcome, Finished) and not job.chars_received:
        return "[Screenwriter LLM: the model returned an empty answer.]\n"
    return ""


def stem_title(source_name: str, title: str | None) -> str:
    """The script's title, else its Text's name without the file ending."""
    return title or script_stem(source_name)


def load_conversation(text: bpy.types.Text | None) -> chat.Conversation:
    """The conversation stored on ``text`` (empty when there is none)."""
    return chat.Conversation.from_json(text.get(CHAT_KEY) if text is not None else None)


def conversation_text(source: bpy.types.Text, create: bool) -> bpy.types.Text | None:
    """The conversation Text of ``source`` (created and marked when ``create``).

    Raises:
        SinkError: A Text of that name exists that the add-on did not write.
    """
    name = conversation_name(source.name)
    text = bpy.data.texts.get(name)
    if text is not None and not is_owned(text):
        raise SinkError(f"A Text named '{name}' exists and was not written by Screenwriter LLM.")
    if text is None and create:
        text = bpy.data.texts.new(name)
        text[OUTPUT_MARKER] = True
        text[SOURCE_KEY] = source.name
    return text
