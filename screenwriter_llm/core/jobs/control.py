"""What a job's worker thread and the main thread share, behind one lock: the cancel flag, the deadline that
expired, the open HTTP response (so either side can close it) and the attempt's timing.

Everything else is owned by one side: the worker's progress lives on :class:`~.worker.Worker`, what the main
thread shows lives on :class:`~.job.Job` (updated only by its drain).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from ..provider.llm import close_stream


class Control:
    """The shared state of one job. Every method may be called from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        #: Set once the job is cancelled; the worker waits on it between retries.
        self.cancelled = threading.Event()
        self._reason = ""
        self._expired = ""
        self._response: Any = None
        self._attempt_started_at = 0.0
        self._last_chunk_at = 0.0
        self._text_shown = False

    # --- cancel and expire (main thread, or any) --------------------------------------------------

    def cancel(self, reason: str) -> bool:
        """Set the cancel flag with ``reason`` and close the HTTP stream so the provider stops too.
        Returns False when the job was already cancelled (idempotent)."""
        with self._lock:
            if self.cancelled.is_set():
                return False
            self._reason = reason
            self.cancelled.set()
            response = self._response
        if response is not None:
            close_stream(response)
        return True

    @property
    def reason(self) -> str:
        """Why the job was cancelled ('' while it was not)."""
        with self._lock:
            return self._reason

    def expire(self, message: str) -> None:
        """A deadline expired: remember ``message`` (the worker reports it as the outcome) and close the
        stream. Only the first expiry counts."""
        with self._lock:
            if self._expired:
                return
            self._expired = message
            response = self._response
        if response is not None:
            close_stream(response)

    @property
    def expired(self) -> str:
        """The expired deadline's message, '' while none expired."""
        with self._lock:
            return self._expired

    # --- the response (worker thread) -------------------------------------------------------------

    def remember_response(self, response: Any) -> None:
        """Keep the streaming response so :meth:`cancel`/:meth:`expire` can close it; close it at once when
        the job was cancelled or expired before it arrived."""
        with self._lock:
            self._response = response
            stop = self.cancelled.is_set() or bool(self._expired)
        if stop:
            close_stream(response)

    def forget_response(self) -> None:
        """The worker is done with the response."""
        with self._lock:
            self._response = None

    # --- timing (written by the worker, read by the deadline check) -------------------------------

    def attempt_started(self) -> None:
        """A request attempt starts now."""
        with self._lock:
            self._attempt_started_at = self._last_chunk_at = time.monotonic()

    def chunk_arrived(self, text: bool) -> None:
        """A chunk arrived now; ``text`` when it carried answer text."""
        with self._lock:
            self._last_chunk_at = time.monotonic()
            if text:
                self._text_shown = True

    @property
    def text_shown(self) -> bool:
        """True once any answer text arrived (then no retry and no fallback: it would repeat text)."""
        with self._lock:
            return self._text_shown

    def timing(self) -> tuple[float, float, bool]:
        """``(attempt_started_at, last_chunk_at, text_shown)``, ``time.monotonic()`` seconds (0: none yet)."""
        with self._lock:
            return self._attempt_started_at, self._last_chunk_at, self._text_shown
