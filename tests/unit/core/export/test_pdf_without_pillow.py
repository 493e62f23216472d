"""The extension zips leave Pillow out (requirements/excludes.txt): PDF export must work, and stay quiet, without it.
Run in a child interpreter where ``import PIL`` fails, as in an extension installed from the zip."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pypdf import PdfReader

REPO = Path(__file__).resolve().parents[4]

CHILD = r"""
import sys, warnings
sys.modules["PIL"] = None  # import PIL raises ImportError, as without the wheel
sys.path.insert(0, sys.argv[1])
warnings.simplefilter("error")  # any warning (fpdf2's "Pillow could not be imported") fails the child
from screenwriter_llm.core.export.document import AnswerDocument, to_pdf
doc = AnswerDocument("Night Ferry – Scene 3", "Scene Analysis", "openai/gpt-4o-mini", "2026-12-01", 12, 5, 0.0004,
                     "# Notes\n\nMargit’s “silence” works — keep it. ![still](https://example.com/a.png)")
to_pdf(doc, sys.argv[2])
print("OK")
"""


def test_pdf_export_needs_no_pillow(tmp_path: Path) -> None:
    out = tmp_path / "answer.pdf"
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(REPO), str(out)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0 and result.stdout.strip() == "OK", result.stderr
    text = "".join(page.extract_text() for page in PdfReader(out).pages)
    assert "Margit’s “silence” works — keep it." in text.replace("\n", " ")
    assert "Written with AI assistance (openai/gpt-4o-mini)" in text
