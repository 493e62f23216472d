"""The PDF layout of an answer document, with fpdf2 (pure Python, pinned in ``requirements/``).

Pure Python (never imports ``bpy``); fpdf2 is imported by :func:`write_pdf`, not at import time. Called
through :func:`screenwriter_llm.core.export.document.to_pdf`.

Layout (A4, 20 mm margins): the title (DejaVu Sans Bold 18 pt), the disclosure line (Oblique 10 pt), the
metadata (10 pt, one "Label: value" line each), a rule, then the answer. The answer's Markdown is
rendered to HTML by markdown-it-py and laid out by fpdf2's ``write_html``: headings in bold at 16 to 11 pt,
``**bold**``, ``*emphasis*``, ``~~strikethrough~~``, bulleted and numbered lists (nested too),
``code`` and code blocks in DejaVu Sans Mono, block quotes, tables, rules and links. Each page's footer
repeats the disclosure with the page number.

Fonts: the DejaVu subsets in ``fonts/`` (Latin, Greek, Cyrillic, punctuation; licence and recipe in
``fonts/README.md``). fpdf2 embeds only the glyphs a document uses. A character none of them has is
printed as U+FFFD and counted (:attr:`PdfResult.replaced`); invisible format characters it lacks
(variation selectors, joiners) and control characters are dropped.

Cost: about 0.1 s for an answer of a page or two (parsing the five fonts is most of it), about 50 ms a
page beyond that; worker-thread material for very long documents.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Container, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["FONT_DIR", "PdfResult", "write_pdf"]

#: The bundled fonts.
FONT_DIR = Path(__file__).resolve().parent / "fonts"

_SANS = "DejaVu"
_MONO = "DejaVuMono"
_SANS_FILES = {
    "": "DejaVuSans.ttf",
    "B": "DejaVuSans-Bold.ttf",
    "I": "DejaVuSans-Oblique.ttf",
    "BI": "DejaVuSans-BoldOblique.ttf",
}
_MONO_FILE = "DejaVuSansMono.ttf"
_BODY_PT = 11.0
_HEADING_PT = {"h1": 16.0, "h2": 14.0, "h3": 12.5, "h4": 11.5, "h5": 11.0, "h6": 11.0}
_INK = "#222222"
_MUTED = "#555555"


@dataclass(frozen=True)
class PdfResult:
    """What :func:`write_pdf` wrote.

    Attributes:
        path: The PDF file.
        pages: Its page count.
        replaced: How many characters the bundled fonts lack and were printed as U+FFFD.
    """

    path: Path
    pages: int
    replaced: int


def _printable(text: str, cmap: Container[int]) -> tuple[str, int]:
    """``text`` (NFC) with every character the fonts lack replaced by U+FFFD, or dropped when it is an
    invisible mark or format character; control characters other than line breaks and tabs dropped;
    and how many were replaced."""
    out: list[str] = []
    replaced = 0
    for char in unicodedata.normalize("NFC", text):
        category = unicodedata.category(char)
        if char in "\n\r\t":
            out.append(char)
        elif category == "Cc":
            continue  # other control characters (NUL, BEL...) print nothing
        elif ord(char) in cmap:
            out.append(char)
        elif category in ("Mn", "Me", "Cf"):
            continue
        else:
            out.append("\ufffd")
            replaced += 1
    return "".join(out), replaced


def _fpdf() -> Any:
    """The ``fpdf`` module (fpdf2), imported quietly: the extension zips leave Pillow out (10-15 MB a platform;
    requirements/excludes.txt), which fpdf2 needs only for images, and exported answers carry none (the HTML and
    PDF turn images into links); without this its import warns on every first export."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Pillow could not be imported")
        import fpdf
    return fpdf


def _pdf_class() -> Any:
    _fpdf()  # imported quietly first; the import below then finds it in sys.modules
    from fpdf import FPDF

    class AnswerPDF(FPDF):
        """FPDF with the disclosure and the page number in every page's footer."""

        footer_text = ""

        def footer(self) -> None:
            self.set_y(-14)
            self.set_font(_SANS, "I", 8)
            self.set_text_color(_MUTED)
            self.cell(0, 5, f"{self.footer_text}  ·  {self.page_no()}/{{nb}}", align="C")

    return AnswerPDF


def write_pdf(
    path: Path,
    *,
    title: str,
    disclosure: str,
    subject: str,
    metadata: Sequence[tuple[str, str]],
    body_html: str,
) -> PdfResult:
    """Lay out a document and write it to ``path``.

    Args:
        path: Where to write; an existing file is replaced (a ``.part`` file beside it first).
        title: The title (also the PDF's Title metadata).
        disclosure: The disclosure line, under the title and in every footer.
        subject: The PDF's Subject metadata.
        metadata: (label, value) lines under the disclosure.
        body_html: The answer, rendered from Markdown by markdown-it-py (lists tight).

    Raises:
        OSError: The file could not be written (no temporary file is left behind).
    """
    fpdf = _fpdf()
    FontFace, TextStyle = fpdf.FontFace, fpdf.TextStyle  # noqa: N806 - the library's class names

    pdf = _pdf_class()(format="A4", unit="mm")
    pdf.set_margins(20, 20, 20)
    pdf.set_auto_page_break(True, margin=20)
    for style, name in _SANS_FILES.items():
        pdf.add_font(_SANS, style, FONT_DIR / name)
    for style in _SANS_FILES:  # one mono face: bold or oblique code prints upright
        pdf.add_font(_MONO, style, FONT_DIR / _MONO_FILE)
    pdf.set_fallback_fonts([_SANS], exact_match=False)
    cmap = pdf.fonts[_SANS.lower()].cmap

    replaced = 0

    def printable(text: str) -> str:
        nonlocal replaced
        clean, count = _printable(text, cmap)
        replaced += count
        return clean

    title = printable(title)
    disclosure = printable(disclosure)
    pdf.footer_text = disclosure
    pdf.set_title(title)
    pdf.set_subject(printable(subject))
    pdf.set_creator("Screenwriter LLM")
    pdf.add_page()

    pdf.set_text_color(_INK)
    pdf.set_font(_SANS, "B", 18)
    pdf.multi_cell(0, 8, title, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)
    pdf.set_font(_SANS, "I", 10)
    pdf.set_text_color(_MUTED)
    pdf.multi_cell(0, 5, disclosure, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)
    for label, value in metadata:
        pdf.set_font(_SANS, "B", 10)
        pdf.write(5, f"{label}: ")
        pdf.set_font(_SANS, "", 10)
        pdf.write(5, printable(value))
        pdf.ln(5)
    pdf.ln(2)
    pdf.set_draw_color(_MUTED)
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
    pdf.ln(3)

    pdf.set_text_color(_INK)
    pdf.set_font(_SANS, "", _BODY_PT)
    # Heading margins: t_margin in mm, b_margin in heading heights (fpdf2 2.8 HTML2FPDF.handle_starttag).
    tag_styles: dict[str, Any] = {
        tag: TextStyle(font_family=_SANS, font_style="B", font_size_pt=size, color=_INK, t_margin=5, b_margin=0.25)
        for tag, size in _HEADING_PT.items()
    }
    tag_styles.update(
        code=FontFace(family=_MONO),
        pre=TextStyle(font_family=_MONO, font_size_pt=_BODY_PT - 1.5, t_margin=2, b_margin=2, l_margin=4),
        blockquote=TextStyle(color=_MUTED, font_style="I", t_margin=2, b_margin=2, l_margin=6),
        a=FontFace(color="#1a4d99", emphasis="UNDERLINE"),
    )
    pdf.write_html(
        printable(body_html.replace("\t", "    ")),
        font_family=_SANS,
        tag_styles=tag_styles,
        li_prefix_color=_INK,
        table_line_separators=True,
    )

    data = bytes(pdf.output())
    partial = path.with_name(path.name + ".part")
    try:
        partial.write_bytes(data)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return PdfResult(path=path, pages=pdf.pages_count, replaced=replaced)
