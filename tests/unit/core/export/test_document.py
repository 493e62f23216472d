"""core.export.document: an answer exported as Markdown, HTML and PDF reads back (the PDF with pypdf, the test
oracle) with its text, its accents, curly quotes and dashes, its metadata and the AI-assistance disclosure."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from screenwriter_llm.core.export import document
from screenwriter_llm.core.export.document import AnswerDocument, to_html, to_markdown, to_pdf
from screenwriter_llm.core.export.pdf import FONT_DIR

BODY = """## What works

Steel’s “Does a bear crap in the woods?” lands — the café-style naïveté of two retirees… *earned*.
Ελληνικά and Кириллица print too.

## Notes

- **Pacing:** the long beat runs `3 lines`
- Brick’s silence
  - nested: a second level

1. Cut the pause.

   A second paragraph in the item.
2. Keep the toast.

> Quoted advice.

```
STEEL
Screw retirement.
```

| Scene | Eighths |
| --- | --- |
| 1 | 12/8 |

Raw <b>HTML</b> stays text; ![a still](https://example.com/still.png) is a link.
"""


def make(**changes: object) -> AnswerDocument:
    fields: dict[str, object] = {
        "title": "Brick & Steel — Scene 1: EXT. BRICK’S PATIO - DAY",
        "task_label": "Scene Analysis",
        "model": "openai/gpt-4o-mini",
        "date": "2026-05-01T14:03:00+02:00",
        "input_tokens": 1234,
        "output_tokens": 567,
        "cost_usd": 0.00066,
        "body_markdown": BODY,
    }
    return AnswerDocument(**{**fields, **changes})  # type: ignore[arg-type]


def test_disclosure_line() -> None:
    assert make().disclosure == "Written with AI assistance (openai/gpt-4o-mini)"
    assert document.DISCLOSURE.format(model="x") == "Written with AI assistance (x)"


def test_markdown_holds_the_metadata_then_the_answer() -> None:
    text = to_markdown(make())
    assert text == (
        "# Brick & Steel — Scene 1: EXT. BRICK’S PATIO - DAY\n"
        "\n"
        "Written with AI assistance (openai/gpt-4o-mini)\n"
        "\n"
        "- Task: Scene Analysis\n"
        "- Model: openai/gpt-4o-mini\n"
        "- Date: 2026-05-01T14:03:00+02:00\n"
        "- Tokens: 1,234 input, 567 output\n"
        "- Cost: $0.00066\n"
        "\n"
        "---\n"
        "\n" + BODY
    )
    assert "- Cost: unknown\n" in to_markdown(make(cost_usd=None))


def test_markdown_metadata_is_literal_text() -> None:
    text = to_markdown(make(title="*Draft* [v2] &amp; <notes>", model="ollama_chat/llama_3"))
    assert text.startswith("# \\*Draft\\* \\[v2\\] \\&amp; \\<notes\\>\n")
    assert "Written with AI assistance (ollama_chat/llama_3)\n" in text  # "_" inside words needs no escape
    rendered = document.render_body_html(text.split("\n---\n")[0])
    assert "<h1>*Draft* [v2] &amp;amp; &lt;notes&gt;</h1>" in rendered
    assert "<p>Written with AI assistance (ollama_chat/llama_3)</p>" in rendered


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += attrs
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        self.text.append(data)


def test_html_is_a_self_contained_page_with_the_rendered_answer() -> None:
    page = to_html(make())
    assert page.startswith('<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">')
    parsed = _Page()
    parsed.feed(page)
    assert parsed.title == "Brick & Steel — Scene 1: EXT. BRICK’S PATIO - DAY — Scene Analysis"
    assert '<p class="disclosure">Written with AI assistance (openai/gpt-4o-mini)</p>' in page
    assert "<dt>Tokens</dt><dd>1,234 input, 567 output</dd>" in page
    assert "<dt>Cost</dt><dd>$0.00066</dd>" in page
    # The body, rendered.
    assert "<h2>What works</h2>" in page
    assert "<p>Steel’s “Does a bear crap in the woods?” lands — the café-style naïveté" in page
    assert "<em>earned</em>" in page
    assert "<li><strong>Pacing:</strong> the long beat runs <code>3 lines</code></li>" in page
    assert "<pre><code>STEEL\nScrew retirement.\n</code></pre>" in page
    assert "<th>Scene</th>" in page and "<blockquote>" in page
    # Raw HTML is text, an image is a link: nothing runs, nothing is fetched.
    assert "Raw &lt;b&gt;HTML&lt;/b&gt; stays text" in page
    assert '!<a href="https://example.com/still.png">a still</a>' in page
    assert "img" not in parsed.tags and "script" not in parsed.tags and "link" not in parsed.tags
    assert not [name for name, _ in parsed.attrs if name == "src"]


def test_html_escapes_the_metadata() -> None:
    page = to_html(make(title='<script>alert("x")</script>', task_label="A & B", model='m"><i>'))
    assert "<script>" not in page
    assert "<title>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; — A &amp; B</title>" in page
    assert "Written with AI assistance (m&quot;&gt;&lt;i&gt;)" in page


def test_unsafe_links_are_not_links() -> None:
    assert "href" not in document.render_body_html("[click](javascript:alert(1))")


def _pdf_text(path: Path) -> tuple[PdfReader, str]:
    reader = PdfReader(path)
    return reader, "\n".join(page.extract_text() for page in reader.pages)


def _fonts(reader: PdfReader) -> set[str]:
    """The embedded fonts' names, without the subset tag (``ABCDEF+``)."""
    names = set()
    for page in reader.pages:
        resources: Any = page["/Resources"].get_object()
        fonts: Any = resources["/Font"].get_object()
        for font in fonts.values():
            names.add(re.sub(r"^[A-Z]{6}\+", "", str(font.get_object()["/BaseFont"]).lstrip("/")))
    return names


def test_pdf_reads_back_with_the_answer_accents_quotes_dashes_and_disclosure(tmp_path: Path) -> None:
    path = tmp_path / "analysis.pdf"
    result = to_pdf(make(), path)
    assert result.path == path and result.pages == 1 and result.replaced == 0
    reader, text = _pdf_text(path)
    assert len(reader.pages) == 1
    flat = " ".join(text.split())
    assert "Written with AI assistance (openai/gpt-4o-mini)" in flat
    assert "Brick & Steel — Scene 1: EXT. BRICK’S PATIO - DAY" in flat
    assert "Tokens: 1,234 input, 567 output" in flat and "Cost: $0.00066" in flat
    assert "Date: 2026-05-01T14:03:00+02:00" in flat
    assert "Steel’s “Does a bear crap in the woods?” lands — the café-style naïveté of two retirees… earned." in flat
    assert "Ελληνικά and Кириллица print too." in flat
    # Markdown structure: headings, list bullets and numbers (a loose item too), code, table, quote.
    for piece in ("What works", "Notes", "• Pacing: the long beat runs 3 lines", "• nested: a second level",
                  "1. Cut the pause.", "A second paragraph in the item.", "2. Keep the toast.", "Quoted advice.",
                  "STEEL", "Screw retirement.", "Scene", "Eighths", "12/8", "Raw <b>HTML</b> stays text"):  # fmt: skip
        assert piece in flat, piece
    # The faces that show the markup are embedded: bold headings, oblique emphasis, mono code.
    assert {"DejaVuSansBook", "DejaVuSansBold", "DejaVuSansOblique", "DejaVuSansMonoBook"} <= _fonts(reader)
    assert reader.metadata is not None
    assert reader.metadata.title == make().title
    assert reader.metadata.subject == "Scene Analysis. Written with AI assistance (openai/gpt-4o-mini)"


def test_every_pdf_page_carries_the_disclosure(tmp_path: Path) -> None:
    long_body = "\n\n".join(f"Paragraph {n}: the beat — “quoted” — lands." for n in range(1, 140))
    result = to_pdf(make(body_markdown=long_body), tmp_path / "long.pdf")
    reader, _ = _pdf_text(result.path)
    assert result.pages == len(reader.pages) >= 3
    for number, page in enumerate(reader.pages, start=1):
        footer = f"Written with AI assistance (openai/gpt-4o-mini) · {number}/{result.pages}"
        assert footer in " ".join(page.extract_text().split())


def test_characters_the_fonts_lack_print_as_replacement_marks(tmp_path: Path) -> None:
    # An emoji and two CJK characters: replaced; a variation selector and a control character: dropped.
    result = to_pdf(make(body_markdown="Nice 😀 and 中文 here; joined\ufe0f, bell\x07."), tmp_path / "x.pdf")
    assert result.replaced == 3
    _, text = _pdf_text(result.path)
    assert "Nice \ufffd and \ufffd\ufffd here; joined, bell." in " ".join(text.split())


def test_pdf_replaces_the_file_and_leaves_nothing_behind(tmp_path: Path) -> None:
    path = tmp_path / "out.pdf"
    path.write_bytes(b"old")
    to_pdf(make(), path)
    assert path.read_bytes().startswith(b"%PDF-")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.pdf"]
    with pytest.raises(OSError):
        to_pdf(make(), tmp_path / "missing" / "out.pdf")
    assert not (tmp_path / "missing").exists()


def test_bundled_fonts_and_licence() -> None:
    files = sorted(p.name for p in FONT_DIR.iterdir())
    assert files == [
        "DejaVuSans-Bold.ttf",
        "DejaVuSans-BoldOblique.ttf",
        "DejaVuSans-Oblique.ttf",
        "DejaVuSans.ttf",
        "DejaVuSansMono.ttf",
        "LICENSE.txt",
        "README.md",
    ]
    assert sum(p.stat().st_size for p in FONT_DIR.glob("*.ttf")) < 1_000_000
    licence = (FONT_DIR / "LICENSE.txt").read_text(encoding="utf-8")
    assert "Bitstream Vera Fonts Copyright" in licence and "Arev Fonts Copyright" in licence


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"title": "  "}, "title must not be empty"),
        ({"model": ""}, "model must not be empty"),
        ({"date": "May 1st"}, "date must be ISO 8601"),
        ({"input_tokens": -1}, "input_tokens must be a whole number"),
        ({"output_tokens": 1.5}, "output_tokens must be a whole number"),
        ({"output_tokens": True}, "output_tokens must be a whole number"),
        ({"cost_usd": -0.01}, "cost_usd must be 0 or more"),
        ({"cost_usd": float("nan")}, "cost_usd must be 0 or more"),
    ],
)
def test_answer_document_refuses_bad_fields(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make(**changes)


def test_dates_and_costs_are_shown_as_given() -> None:
    assert dict(make(date="2026-05-01", cost_usd=0.0).metadata()) == {
        "Task": "Scene Analysis",
        "Model": "openai/gpt-4o-mini",
        "Date": "2026-05-01",
        "Tokens": "1,234 input, 567 output",
        "Cost": "$0.00",
    }
    assert dict(make(cost_usd=12.5).metadata())["Cost"] == "$12.50"
