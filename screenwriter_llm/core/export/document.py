"""An answer as a document: Markdown, a self-contained HTML page, or a PDF, each with its metadata and the
disclosure line ``Written with AI assistance (<model>)``.

Pure Python (never imports ``bpy``). markdown-it-py (CommonMark, pinned in ``requirements/``) renders the
answer's Markdown for HTML and PDF; fpdf2 lays out the PDF (:mod:`.pdf`). Both are imported by the function
that needs them, so importing this module is cheap.

What every format holds, in this order: the title; the disclosure line; the metadata (task, model, date,
tokens, cost); the answer. The answer is the model's Markdown as it came: in HTML and PDF, raw HTML in it
is shown as text, never interpreted (markdown-it's ``html=False``), and an image (``![alt](url)``)
becomes a link, so opening an export never fetches anything. The metadata is plain text everywhere: it
is escaped for Markdown and HTML, never rendered as markup.

Units: tokens as counted for the request (input = prompt, output = completion); cost in US dollars,
shown with :func:`screenwriter_llm.core.accounting.cost.format_usd`, or "unknown" when None; the date is
an ISO 8601 string (``2026-05-01`` or ``2026-05-01T14:03:00+02:00``) shown as given.
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..accounting.cost import format_usd

if TYPE_CHECKING:
    from .pdf import PdfResult

__all__ = ["DISCLOSURE", "AnswerDocument", "render_body_html", "to_html", "to_markdown", "to_pdf"]

#: The disclosure line, with ``{model}`` the model string as the request named it.
DISCLOSURE = "Written with AI assistance ({model})"


@dataclass(frozen=True)
class AnswerDocument:
    """One answer with what a reader needs to know about it.

    Attributes:
        title: The document's title, e.g. the screenplay's title and the scene.
        task_label: The task's label, e.g. "Scene Analysis".
        model: The model string (LiteLLM ``provider/model`` form), named in the disclosure.
        date: When the answer was made, ISO 8601 (a date, or a date and time).
        input_tokens: Prompt tokens (0 or more).
        output_tokens: Completion tokens (0 or more).
        cost_usd: Cost in US dollars, or None when not known (a model outside LiteLLM's price map).
        body_markdown: The answer, Markdown.

    Raises:
        ValueError: An empty title, task label or model, a date that is not ISO 8601, a negative or
            non-integer token count, or a negative or non-finite cost.
    """

    title: str
    task_label: str
    model: str
    date: str
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    body_markdown: str

    def __post_init__(self) -> None:
        for name in ("title", "task_label", "model"):
            if not str(getattr(self, name)).strip():
                raise ValueError(f"{name} must not be empty")
        try:
            datetime.fromisoformat(self.date)
        except (TypeError, ValueError):
            raise ValueError(f"date must be ISO 8601 (2026-05-01 or 2026-05-01T14:03:00), not {self.date!r}") from None
        for name in ("input_tokens", "output_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a whole number, 0 or more, not {value!r}")
        if self.cost_usd is not None and not (math.isfinite(self.cost_usd) and self.cost_usd >= 0):
            raise ValueError(f"cost_usd must be 0 or more, or None, not {self.cost_usd!r}")

    @property
    def disclosure(self) -> str:
        """``Written with AI assistance (<model>)``."""
        return DISCLOSURE.format(model=self.model)

    def metadata(self) -> list[tuple[str, str]]:
        """(label, value) pairs, in the order every format shows them::

        [("Task", "Scene Analysis"), ("Model", "openai/gpt-4o-mini"), ("Date", "2026-05-01"),
         ("Tokens", "1,234 input, 567 output"), ("Cost", "$0.00066")]
        """
        cost = "unknown" if self.cost_usd is None else format_usd(self.cost_usd)
        return [
            ("Task", self.task_label),
            ("Model", self.model),
            ("Date", self.date),
            ("Tokens", f"{self.input_tokens:,} input, {self.output_tokens:,} output"),
            ("Cost", cost),
        ]


# Characters that can start Markdown syntax inline; "&" only where it starts an entity ("&amp;"), "_" only
# where it can open or close emphasis (CommonMark: never inside a word, so "gpt_4o_mini" stays as it is).
_MARKDOWN_SPECIAL = re.compile(r"[\\`*\[\]<>~|]|&(?=#?[A-Za-z0-9]+;)|(?<![^\W_])_|_(?![^\W_])")


def _md_text(text: str) -> str:
    """``text`` as literal Markdown inline text, on one line."""
    return _MARKDOWN_SPECIAL.sub(lambda match: "\\" + match.group(), " ".join(text.split()))


def to_markdown(doc: AnswerDocument) -> str:
    """The document as Markdown, ending with a newline::

    # <title>

    Written with AI assistance (<model>)

    - Task: <task label>
    - Model: <model>
    - Date: <date>
    - Tokens: <input> input, <output> output
    - Cost: <cost or "unknown">

    ---

    <the answer's Markdown>
    """
    lines = [f"# {_md_text(doc.title)}", "", _md_text(doc.disclosure), ""]
    lines += [f"- {label}: {_md_text(value)}" for label, value in doc.metadata()]
    lines += ["", "---", "", doc.body_markdown.strip("\n")]
    return "\n".join(lines).rstrip("\n") + "\n"


def _markdown_it() -> Any:
    from markdown_it import MarkdownIt

    # CommonMark with GitHub's tables and strikethrough; raw HTML shown as text; images as links.
    return MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"]).disable("image")


def render_body_html(markdown: str, *, tight_lists: bool = False) -> str:
    """The answer's Markdown as an HTML fragment (markdown-it-py, CommonMark plus tables and
    strikethrough). Raw HTML in it is escaped; images become links; ``javascript:`` and similar links
    are not made links (markdown-it's ``validateLink``).

    ``tight_lists=True`` (for the PDF) renders every list item without ``<p>`` tags, a second paragraph
    of an item after ``<br><br>``: fpdf2's ``write_html`` drops an item's bullet or number when the
    item starts with a ``<p>``, as CommonMark's "loose" lists do.
    """
    md = _markdown_it()
    tokens = md.parse(markdown)
    if tight_lists:
        depth = 0
        for index, token in enumerate(tokens):
            if token.type == "list_item_open":
                depth += 1
            elif token.type == "list_item_close":
                depth -= 1
            elif depth and token.type in ("paragraph_open", "paragraph_close"):
                token.hidden = True
                following = tokens[index + 1] if index + 1 < len(tokens) else None
                if token.type == "paragraph_close" and following is not None and following.type == "paragraph_open":
                    token.type, token.content, token.block = "html_block", "<br><br>", True
    result: str = md.renderer.render(tokens, md.options, {})
    return result


_STYLE = """
body { font-family: "DejaVu Sans", "Segoe UI", Helvetica, Arial, sans-serif; line-height: 1.5;
       max-width: 46em; margin: 2em auto; padding: 0 1em; color: #222; }
header { border-bottom: 1px solid #ccc; margin-bottom: 1.5em; }
.disclosure { font-style: italic; color: #555; }
.metadata { display: grid; grid-template-columns: max-content 1fr; gap: 0 1em; color: #444; }
.metadata dt { font-weight: bold; }
.metadata dd { margin: 0; }
pre, code { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; }
pre { background: #f4f4f4; padding: 0.6em; overflow-x: auto; }
blockquote { border-left: 3px solid #ccc; margin-left: 0; padding-left: 1em; color: #444; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; }
"""


def to_html(doc: AnswerDocument) -> str:
    """The document as a self-contained HTML5 page (UTF-8, inline CSS, no script, nothing fetched).

    ``<title>`` is ``<title> — <task label>``; the header holds the title, the disclosure line
    (``<p class="disclosure">``) and the metadata (``<dl class="metadata">``); ``<main>`` holds the
    answer rendered by :func:`render_body_html`. Every metadata value is HTML-escaped.
    """
    esc = html.escape
    metadata = "\n".join(f"<dt>{esc(label)}</dt><dd>{esc(value)}</dd>" for label, value in doc.metadata())
    return (
        "<!DOCTYPE html>\n"
        "<html>\n<head>\n"
        '<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="generator" content="Screenwriter LLM">\n'
        f"<title>{esc(doc.title)} — {esc(doc.task_label)}</title>\n"
        f"<style>{_STYLE}</style>\n"
        "</head>\n<body>\n<header>\n"
        f"<h1>{esc(doc.title)}</h1>\n"
        f'<p class="disclosure">{esc(doc.disclosure)}</p>\n'
        f'<dl class="metadata">\n{metadata}\n</dl>\n'
        "</header>\n<main>\n"
        f"{render_body_html(doc.body_markdown)}"
        "</main>\n</body>\n</html>\n"
    )


def to_pdf(doc: AnswerDocument, path: str | Path) -> PdfResult:
    """Write the document as a PDF (A4) to ``path``, replacing any file there (written to a temporary
    file beside it first, so a failed export leaves no half-written PDF).

    The fonts are the DejaVu subsets bundled in ``fonts/``: characters they lack (CJK, emoji) print as
    U+FFFD and are counted in the result. Every page's footer repeats the disclosure and the page number.

    Returns:
        A :class:`~.pdf.PdfResult`: the path, the page count, the characters replaced.

    Raises:
        OSError: The file could not be written.
    """
    from .pdf import write_pdf

    return write_pdf(
        Path(path),
        title=doc.title,
        disclosure=doc.disclosure,
        subject=f"{doc.task_label}. {doc.disclosure}",
        metadata=doc.metadata(),
        body_html=render_body_html(doc.body_markdown, tight_lists=True),
    )
