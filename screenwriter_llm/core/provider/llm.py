"""One call to LiteLLM: a request in, a stream of events out.

This module never imports ``bpy``. LiteLLM itself is imported lazily by :func:`import_litellm`, which is
only ever called on a worker thread: importing it costs about 3 s and 165 MB (DESIGN.md, "Rules").
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from ..events import Cancelled, Event, Failed, Finished, TextDelta, Thinking, Usage

_import_lock = threading.Lock()


def import_litellm() -> ModuleType:
    """Import LiteLLM configured for an embedded, private, offline-safe use and return the module.

    Before the import: ``LITELLM_MODE=PRODUCTION`` (otherwise LiteLLM loads a ``.env`` file from the
    working directory) and ``LITELLM_LOCAL_MODEL_COST_MAP=True`` (otherwise it fetches the cost map
    over the network at import). After it: telemetry and debug banners off, no callbacks.

    Call only from a worker thread; it blocks for seconds on first use. Thread-safe.
    """
    with _import_lock:
        os.environ["LITELLM_MODE"] = "PRODUCTION"
        os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
        import litellm

        litellm.telemetry = False
        litellm.suppress_debug_info = True
        # No per-chunk logging task while streaming (we register no callbacks to feed), and no tokenizer
        # downloads from huggingface.co, which would bypass Blender's online-access setting.
        litellm.disable_streaming_logging = True
        litellm.disable_hf_tokenizer_download = True
        litellm.callbacks = []
        litellm.success_callback = []
        litellm.failure_callback = []
        return litellm


@dataclass(frozen=True)
class LLMRequest:
    """A snapshot of everything one completion needs, taken on the main thread.

    ``messages`` are OpenAI-style ``{"role": ..., "content": ...}`` dicts. ``temperature`` is 0-2,
    ``max_tokens`` is the completion-token cap, ``read_timeout`` is seconds per read (LiteLLM's
    ``timeout`` is per read, not a deadline). ``api_key`` is never shown in ``repr``.
    ``mock_response`` makes LiteLLM answer with that text without any network call (offline demo).
    """

    model: str
    messages: tuple[dict[str, str], ...]
    temperature: float = 0.7
    max_tokens: int = 2048
    stream: bool = True
    api_base: str | None = None
    api_key: str | None = field(default=None, repr=False)
    mock_response: str | None = None
    read_timeout: float = 120.0

    def completion_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``litellm.completion``.

        Always ``stream_options={"include_usage": True}`` when streaming (DESIGN.md), and
        ``max_retries=0`` so the OpenAI SDK inside LiteLLM does not retry silently: retry policy is
        decided by the job, in one place.
        """
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": [dict(m) for m in self.messages],
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "stream": self.stream,
            "timeout": self.read_timeout,
            "max_retries": 0,
        }
        if self.stream:
            kwargs["stream_options"] = {"include_usage": True}
        if self.api_base:
            kwargs["api_base"] = self.api_base
        if self.api_key:
            kwargs["api_key"] = self.api_key
        if self.mock_response is not None:
            kwargs["mock_response"] = self.mock_response
        return kwargs


# The events this module yields live with every other job event in core/events.py (re-exported here).
__all__ = [
    "Cancelled",
    "Event",
    "Failed",
    "Finished",
    "LLMRequest",
    "TextDelta",
    "Thinking",
    "Usage",
    "close_stream",
    "import_litellm",
    "stream_completion",
]


def _usage_from(obj: Any) -> Usage | None:
    usage = getattr(obj, "usage", None)
    if not usage:
        return None
    prompt = getattr(usage, "prompt_tokens", None)
    completion = getattr(usage, "completion_tokens", None)
    if prompt is None and completion is None:
        return None
    return Usage(int(prompt or 0), int(completion or 0))


def close_stream(response: Any) -> None:
    """Close a LiteLLM streaming response's HTTP stream so the provider stops generating.

    LiteLLM's ``CustomStreamWrapper`` keeps the provider stream in ``completion_stream`` and has no
    synchronous ``close()`` of its own. For OpenAI-compatible providers that stream is the OpenAI SDK's
    ``Stream``, whose ``close()`` closes the HTTP response; for Anthropic and Ollama it is LiteLLM's
    iterator, whose ``streaming_response`` is the httpx response (checked against LiteLLM 1.106.2 with
    the loopback server). Errors are swallowed: the caller already knows it is cancelling, and the
    read error this causes in the worker is ignored (DESIGN.md).
    """
    stream = getattr(response, "completion_stream", None)
    for candidate in (stream, getattr(stream, "streaming_response", None), getattr(stream, "response", None)):
        close = getattr(candidate, "close", None)
        if callable(close):
            try:
                close()
            except Exception:  # noqa: BLE001, S110 - best effort while cancelling
                pass
            return


def stream_completion(
    request: LLMRequest,
    cancelled: threading.Event,
    on_response: Callable[[Any], None] = lambda response: None,
) -> Iterator[Event]:
    """Run one completion and yield its events: text deltas, thinking, usage, then ``Finished``.

    Streaming and non-streaming requests yield the same kinds of events (a non-streaming answer arrives
    as one ``TextDelta``). Reasoning (``delta.reasoning_content``) is reported as ``Thinking`` and never
    as text. Stops early, without a ``Finished`` event, once ``cancelled`` is set.
    ``on_response`` receives the streaming response object so another thread can close it.

    Raises whatever LiteLLM raises (``litellm.exceptions.*``); the job turns it into a ``Failed``.
    Runs on a worker thread only (imports LiteLLM).
    """
    litellm = import_litellm()
    response = litellm.completion(**request.completion_kwargs())
    if not request.stream:
        choice = response.choices[0] if response.choices else None
        message = getattr(choice, "message", None)
        reasoning = getattr(message, "reasoning_content", None)
        if reasoning:
            yield Thinking(len(reasoning))
        content = getattr(message, "content", None) or ""
        if content:
            yield TextDelta(content)
        whole_usage = _usage_from(response)
        if whole_usage:
            yield whole_usage
        yield Finished(getattr(choice, "finish_reason", None), str(getattr(response, "model", request.model)))
        return

    on_response(response)
    finish_reason: str | None = None
    usage: Usage | None = None
    model = request.model
    for chunk in response:
        if cancelled.is_set():
            return
        # The include_usage chunk carries an empty choices list (DESIGN.md): guard it.
        for choice in (getattr(chunk, "choices", None) or [])[:1]:
            delta = getattr(choice, "delta", None)
            reasoning = getattr(delta, "reasoning_content", None)
            if reasoning:
                yield Thinking(len(reasoning))
            content = getattr(delta, "content", None)
            if content:
                yield TextDelta(content)
            if getattr(choice, "finish_reason", None):
                finish_reason = choice.finish_reason
        usage = _usage_from(chunk) or usage
        model = str(getattr(chunk, "model", None) or model)
    if usage is not None and not cancelled.is_set():
        # Provider usage shows in the wrapper's raw chunks; LiteLLM's own estimate does not.
        reported = any(getattr(c, "usage", None) for c in getattr(response, "chunks", None) or ())
        yield Usage(usage.prompt_tokens, usage.completion_tokens, estimated=not reported)
    if not cancelled.is_set():
        yield Finished(finish_reason, model)
