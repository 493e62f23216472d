"""Export Usage as CSV, and Export Screenwriter Answer (Markdown, HTML, PDF)."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import bpy
from bpy.props import EnumProperty, StringProperty
from bpy.types import Context, Operator
from bpy_extras.io_utils import ExportHelper

from .. import settings, texts, toolset
from ..core.accounting.usage import LedgerError, UsageLedger
from ..core.export.document import AnswerDocument, to_html, to_markdown, to_pdf
from .base import Result, tip_


class SCREENWRITER_OT_export_usage(Operator, ExportHelper):  # type: ignore[misc]
    """Export the usage ledger (one row per request: time, model, operator, script, tokens, cost, time to first
    token, duration, outcome) as a CSV file"""

    bl_idname = "screenwriter.export_usage"
    bl_label = "Export Usage as CSV"
    bl_options = {"REGISTER"}

    filename_ext = ".csv"
    filter_glob: StringProperty(default="*.csv", options={"HIDDEN"})  # type: ignore[valid-type]

    def execute(self, context: Context) -> set[Result]:
        path = settings.data_dir() / settings.LEDGER_FILE
        try:
            rows = UsageLedger(path).export_csv(self.filepath)  # type: ignore[attr-defined]
        except (LedgerError, OSError) as exc:
            self.report({"ERROR"}, tip_("Could not export the usage: {}").format(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, tip_("{} requests written to {}").format(rows, self.filepath))  # type: ignore[attr-defined]
        return {"FINISHED"}




_FORMATS = (
    ("MARKDOWN", "Markdown", "A Markdown file (.md)", ".md"),
    ("HTML", "HTML", "A self-contained web page (.html)", ".html"),
    ("PDF", "PDF", "A PDF document (.pdf)", ".pdf"),
)


def answer_document(text: bpy.types.Text) -> AnswerDocument:
    """The export document of an answer Text: the script's title, the task's label, the model, the date, tokens
    and cost (from what the add-on stored on the Text), and the answer itself."""
    try:
        usage = json.loads(text.get(texts.USAGE_KEY) or "{}")
        stored = json.loads(text.get(texts.REQUEST_KEY) or "{}")
    except ValueError:
        usage, stored = {}, {}
    source_name = str(text.get(texts.SOURCE_KEY) or stored.get("source") or "")
    source = bpy.data.texts.get(source_name) if source_name else None
    title = texts.stem_title(source_name or text.name, _title_of(source))
    task_id = str(stored.get("task") or "")
    try:
        label = toolset.get_task(task_id).label if task_id else "Answer"
    except toolset.ToolError:
        label = task_id.replace("_", " ").title() or "Answer"
    model = str(usage.get("model") or stored.get("model") or "unknown model")
    tokens = text.get(texts.TOKENS_KEY)
    input_tokens = int(usage.get("input_tokens") or (tokens[0] if tokens is not None and len(tokens) == 2 else 0))
    output_tokens = int(usage.get("output_tokens") or (tokens[1] if tokens is not None and len(tokens) == 2 else 0))
    cost = usage.get("cost_usd")
    return AnswerDocument(
        title=title,
        task_label=label,
        model=model,
        date=str(text.get(EXPORT_DATE_KEY) or datetime.date.today().isoformat()),
        input_tokens=max(0, input_tokens),
        output_tokens=max(0, output_tokens),
        cost_usd=float(cost) if isinstance(cost, (int, float)) and cost >= 0 else None,
        body_markdown=text.as_string(),
    )


def _title_of(source: bpy.types.Text | None) -> str | None:
    if source is None:
        return None
    from .. import runtime

    return runtime.get().screenplay(source, fresh=True).title


def export_answer(text: bpy.types.Text, filepath: str, file_format: str) -> Path:
    """Write ``text`` as ``file_format`` ('MARKDOWN', 'HTML', 'PDF') to ``filepath``; returns the path."""
    document = answer_document(text)
    path = Path(bpy.path.abspath(filepath))
    if file_format == "PDF":
        return Path(to_pdf(document, path).path)
    body = to_html(document) if file_format == "HTML" else to_markdown(document)
    path.write_text(body, encoding="utf-8")
    return path


class SCREENWRITER_OT_export_answer(Operator, ExportHelper):
    """Export an answer as Markdown, HTML or PDF, with the script's title, the task, the model, the date, tokens,
    cost and the line 'Written with AI assistance (<model>)'"""

    bl_idname = "screenwriter.export_answer"
    bl_label = "Export Screenwriter Answer"
    bl_options = {"REGISTER"}

    filename_ext = ".md"
    filter_glob: StringProperty(default="*.md;*.html;*.pdf", options={"HIDDEN"})  # type: ignore[valid-type]
    text: StringProperty(  # type: ignore[valid-type]
        name="Answer", description="The answer Text to export (empty: the one in the active editor)",
        options={"SKIP_SAVE"},
    )
    format: EnumProperty(  # type: ignore[valid-type]
        name="Format", items=[(i, n, d) for i, n, d, _e in _FORMATS], default="MARKDOWN"
    )

    def _text(self, context: Context) -> bpy.types.Text | None:
        if self.text:
            return bpy.data.texts.get(self.text)
        space = getattr(context, "space_data", None)
        if space is not None and space.type == "TEXT_EDITOR" and space.text is not None:
            return space.text if space.text.get(texts.OUTPUT_MARKER) else None
        owned = [t for t in bpy.data.texts if t.get(texts.OUTPUT_MARKER) and t.as_string().strip()]
        return owned[-1] if owned else None

    def check(self, context: Context) -> bool:
        ext = next(e for i, _n, _d, e in _FORMATS if i == self.format)
        changed = self.filename_ext != ext
        self.filename_ext = ext
        return bool(super().check(context)) or changed

    def invoke(self, context: Context, event: bpy.types.Event) -> set[Result]:  # type: ignore[override]
        text = self._text(context)
        if text is None:
            self.report({"ERROR"}, tip_("Open an answer in the Text Editor first"))
            return {"CANCELLED"}
        self.text = text.name
        self.filename_ext = next(e for i, _n, _d, e in _FORMATS if i == self.format)
        return super().invoke(context, event)

    def execute(self, context: Context) -> set[Result]:
        text = self._text(context)
        if text is None:
            self.report({"ERROR"}, tip_("No answer Text named '{}'").format(self.text))
            return {"CANCELLED"}
        filepath = str(self.filepath)  # type: ignore[attr-defined]
        ext = next(e for i, _n, _d, e in _FORMATS if i == self.format)
        if not filepath.lower().endswith(ext):
            filepath = str(Path(filepath).with_suffix(ext))
        try:
            path = export_answer(text, filepath, self.format)
        except (OSError, ValueError) as exc:
            self.report({"ERROR"}, tip_("Could not export '{}': {}").format(text.name, exc))
            return {"CANCELLED"}
        self.report({"INFO"}, tip_("'{}' exported to {}").format(text.name, path))
        return {"FINISHED"}


#: Optional ID property of an answer Text: the date (ISO 8601) its export shows (default: today).
EXPORT_DATE_KEY = "screenwriter_date"

classes = (SCREENWRITER_OT_export_usage, SCREENWRITER_OT_export_answer)
