"""Export: an answer as a Markdown, HTML or PDF document, with its metadata and the AI-assistance disclosure.

Pure Python (never imports ``bpy``). :mod:`.document` holds :class:`~.document.AnswerDocument` and the three
writers; :mod:`.pdf` lays out the PDF with fpdf2 and the DejaVu fonts bundled in ``fonts/`` (see its README).
markdown-it-py and fpdf2 are imported by the functions that need them, not at import time.
"""
