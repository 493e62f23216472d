"""The sinks: where each kind of output goes (one sink per output kind).

:class:`AnswerSink` (an answer into its own Text), :class:`ChatSink` (a turn appended to a conversation),
:class:`SummarySink` (a conversation's summary, stored on it), :class:`StatusSink` (nothing written: the probe)
and :class:`ReportSink` (a whole-script run's report). The pump calls :meth:`Sink.open` when it starts the job,
:meth:`Sink.write` with each tick's batch and :meth:`Sink.close` once with the outcome, in one guarded place
(``pump.pump_job``). What happens at the end of a job is the sink's business; nothing calls back into an
operator. Main thread only.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import bpy

from .core.events import Batch, Finished
from .core.tasks import chat
from .texts import (
    CHAT_KEY,
    COMPLETE_MARKER,
    OUTPUT_MARKER,
    REQUEST_KEY,
    SOURCE_KEY,
    TOKENS_KEY,
    USAGE_KEY,
    WRITER_KEY,
    SinkError,
    StreamWriter,
    analysis_name,
    answer_metadata,
    append_to_text,
    closing_note,
    find_text,
    is_owned,
    load_conversation,
    prepare_output,
)

if TYPE_CHECKING:
    from .core.jobs.batch import BatchRun
    from .core.jobs.job import Job

#: :meth:`Sink.close` writes whatever is left at once (the pump closes a sink only when nothing is pending, so
#: normally nothing is; a sink that failed is the exception).
EVERYTHING = 1 << 62

__all__ = ["AnswerSink", "ChatSink", "ReportSink", "Sink", "SinkError", "StatusSink", "SummarySink"]


# --- sinks -------------------------------------------------------------------------------------------


class Sink:
    """Where one job's output goes. ``target``: the output Text's name ('' for none). ``pending``: text still
    waiting to be written (the pump keeps the job until it is, then closes the sink)."""

    target = ""
    pending = False

    def open(self, job: Job, busy: Callable[[str], bool]) -> None:
        """Prepare the output before the job starts. Raises :class:`SinkError` to refuse."""

    def write(self, job: Job, batch: Batch) -> bool:
        """Write one tick's batch; returns True when a Text changed (the pump redraws it)."""
        return False

    def close(self, job: Job) -> None:
        """The job ended (``job.outcome`` is set): finish the output."""


class StatusSink(Sink):
    """Nothing is written (the connection probe): the outcome shows as the status only."""


class AnswerSink(Sink):
    """An answer streamed into its own Text ``target`` (created or emptied by :meth:`open`), with the request
    stored for Regenerate (``stored``: JSON-ready, no key) and, when it ends, a closing note or the complete
    marker and the usage metadata. Renamed mid-stream: found again by its writer token. Deleted: the job is
    cancelled."""

    def __init__(
        self, target: str, source: str, stored: dict[str, Any] | None = None, secrets: tuple[str, ...] = ()
    ) -> None:
        self.target = target
        self.source = source
        self.stored = stored
        self._token = ""
        self._writer = StreamWriter(secrets)

    @property
    def pending(self) -> bool:  # type: ignore[override]
        """Text waits to be written and its Text still exists."""
        return self._writer.pending and self._text() is not None

    def _text(self) -> bpy.types.Text | None:
        return find_text(self.target, self._token)

    def open(self, job: Job, busy: Callable[[str], bool]) -> None:
        text = prepare_output(self.target, bpy.data.texts.get(self.source), busy)
        self.target = text.name
        self._token = f"{job.id}:{id(self)}"
        text[WRITER_KEY] = self._token
        text[COMPLETE_MARKER] = False
        if text.get(TOKENS_KEY) is not None:
            del text[TOKENS_KEY]
        if self.stored is not None:
            text[REQUEST_KEY] = json.dumps(self.stored)

    def write(self, job: Job, batch: Batch) -> bool:
        text = self._text()
        if text is None:
            if job.outcome is None:
                job.cancel(f"Stopped because the output Text '{self.target}' was deleted")
            return False
        self.target = text.name
        self._writer.feed(batch.text, final=job.outcome is not None)
        return self._writer.flush(text)

    def close(self, job: Job) -> None:
        text = self._text()
        if text is None:
            return
        self._writer.feed("", final=True)
        self._writer.flush(text, limit=EVERYTHING)
        note = self._writer.note() + closing_note(job)
        if note:
            append_to_text(text, note)
        if isinstance(job.outcome, Finished) and job.chars_received:
            text[COMPLETE_MARKER] = True
            if job.cost is not None:
                text[TOKENS_KEY] = [job.cost.input_tokens, job.cost.output_tokens]
                text[USAGE_KEY] = json.dumps(answer_metadata(job))
            elif job.usage is not None:
                text[TOKENS_KEY] = [job.usage.prompt_tokens, job.usage.completion_tokens]


class ChatSink(Sink):
    """A chat turn: the writer's ``message`` and the assistant's answer appended to the conversation Text
    ``target``; when the answer ends, both turns and the context report are stored on it."""

    def __init__(self, target: str, source: str, title: str, message: str, secrets: tuple[str, ...] = ()) -> None:
        self.target = target
        self.source = source
        self.title = title
        self.message = message
        self._writer = StreamWriter(secrets)

    @property
    def pending(self) -> bool:  # type: ignore[override]
        """Text waits to be written and the conversation Text still exists."""
        return self._writer.pending and self.target in bpy.data.texts

    def open(self, job: Job, busy: Callable[[str], bool]) -> None:
        if busy(self.target):
            raise SinkError("The assistant is still answering; wait for it or cancel it first.")
        text = bpy.data.texts.get(self.target)
        if text is None or not is_owned(text):
            raise SinkError(f"The conversation Text '{self.target}' is missing; send the message again.")
        conversation = load_conversation(text)
        conversation.source = self.source
        if not text.as_string().strip():
            text.from_string(f"Chat about {self.title}\n")
        append_to_text(text, f"\nYOU: {self.message}\n\nASSISTANT: ")
        text[CHAT_KEY] = conversation.to_json()

    def write(self, job: Job, batch: Batch) -> bool:
        text = bpy.data.texts.get(self.target)
        if text is None:
            if job.outcome is None:
                job.cancel(f"Stopped because the output Text '{self.target}' was deleted")
            return False
        self._writer.feed(batch.text, final=job.outcome is not None)
        return self._writer.flush(text)

    def close(self, job: Job) -> None:
        text = bpy.data.texts.get(self.target)
        if text is None:
            return
        self._writer.feed("", final=True)
        self._writer.flush(text, limit=EVERYTHING)
        note = self._writer.note() + closing_note(job)
        if note and not isinstance(job.outcome, Finished):
            append_to_text(text, note.replace("The answer above", "This reply"))
        stored = load_conversation(text)
        answer = job.answer
        if isinstance(job.outcome, Finished) or answer:
            stored.turns.append({"role": "user", "content": self.message})
            stored.turns.append({"role": "assistant", "content": answer})
        stored.context = job.context_report or stored.context
        text[CHAT_KEY] = stored.to_json()
        append_to_text(text, "\n")


class SummarySink(Sink):
    """A conversation's summary: nothing streams; when it ends, the summary of turns 1-``covers`` is stored on
    the conversation Text ``target`` and a line says so."""

    def __init__(self, target: str, covers: int) -> None:
        self.target = target
        self.covers = covers

    def close(self, job: Job) -> None:
        text = bpy.data.texts.get(self.target)
        summary = job.answer.strip()
        if text is None or not isinstance(job.outcome, Finished) or not summary:
            return
        stored = load_conversation(text)
        stored.summary = chat.ctx.ChatSummary(summary, self.covers)
        text[CHAT_KEY] = stored.to_json()
        append_to_text(
            text,
            f"\n[Screenwriter LLM: turns 1-{self.covers} summarised; later requests carry "
            "the summary instead of those turns.]\n",
        )


class ReportSink:
    """A whole-script run's report: when the run finishes, :meth:`close` assembles ``target`` from the scenes'
    analysis Texts (one section per scene, then token totals)."""

    def __init__(self, target: str, source: str, title: str, scenes: list[tuple[int, str]]) -> None:
        self.target = target
        self.source = source
        self.title = title
        self.scenes = scenes

    def close(self, run: BatchRun) -> None:
        """Write the report Text. Raises :class:`SinkError` when ``target`` is a Text the add-on did not write."""
        lines = [f"Coverage: {self.title}", ""]
        analysed = prompt_total = completion_total = 0
        for number, heading in self.scenes:
            text = bpy.data.texts.get(analysis_name(self.source, number))
            lines.append(f"## Scene {number}: {heading}")
            lines.append("")
            if text is not None and text.get(COMPLETE_MARKER):
                analysed += 1
                lines.append(text.as_string().strip())
                tokens = text.get(TOKENS_KEY)
                if tokens is not None and len(tokens) == 2:
                    prompt_total += int(tokens[0])
                    completion_total += int(tokens[1])
            elif text is not None and text.as_string().strip():
                lines.append("[Not complete: " + text.as_string().strip().splitlines()[-1][:300] + "]")
            else:
                lines.append("[Not analysed yet]")
            lines.append("")
        lines.append(f"Scenes analysed: {analysed} of {len(self.scenes)}")
        lines.append(f"Tokens: {prompt_total} in / {completion_total} out ({prompt_total + completion_total} total)")
        report = bpy.data.texts.get(self.target)
        if report is None:
            report = bpy.data.texts.new(self.target)
            report[OUTPUT_MARKER] = True
            report[SOURCE_KEY] = self.source
        elif not report.get(OUTPUT_MARKER):
            raise SinkError(
                f"A Text named '{self.target}' exists and was not written by Screenwriter LLM, so the coverage "
                "report was not written; rename that Text and run Analyze All Scenes again (the analysed scenes "
                "are kept and skipped)."
            )
        report.from_string("\n".join(lines) + "\n")


