"""Loopback HTTP server that speaks real provider wire formats, for tests.

The server replays real recorded provider responses (``../shared/provider-streams/``, read in place)
or streams synthetic tokens, so that LiteLLM's real HTTP clients and parsers run in our tests.
Faults (error statuses, delays, stalls, dropped connections, in-band errors) are injected per reply.

Routes and how to point LiteLLM at them (``base`` is :attr:`ProviderServer.base_url`):

==========  ====================================================  ==========================================
provider    routes                                                LiteLLM call
==========  ====================================================  ==========================================
openai      ``POST /v1/chat/completions``, ``/chat/completions``  ``openai/<model>``, ``api_base=base + "/v1"``
anthropic   ``POST /v1/messages``                                 ``anthropic/<model>``, ``api_base=base``
ollama      ``POST /api/chat``                                    ``ollama_chat/<model>``, ``api_base=base``
==========  ====================================================  ==========================================

``GET /v1/models``, ``GET /api/tags`` and ``POST /api/show`` get minimal answers. ``GET /__records__``
returns the recorded requests as JSON and ``POST /__enqueue__`` (body ``{"provider": "openai",
"replies": [{...Reply fields...}]}``) queues replies; both serve out-of-process tests and are not
recorded.

In-process use::

    with ProviderServer() as srv:
        srv.enqueue("openai", error("openai_401_invalid_api_key.json"), replay())
        ...  # litellm.completion(..., api_base=srv.api_base("openai"))
        assert srv.requests(path="/v1/chat/completions")[0].body["stream"] is True

Out-of-process use (serves until SIGTERM/SIGINT)::

    python tests/provider_server.py --port 0 --ready-file /tmp/ready.json --synthetic-tokens 200 \\
        --tokens-per-second 50

Standard library only.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

__all__ = [
    "DEFAULT_RECORDINGS",
    "PROVIDERS",
    "Answer",
    "ProviderServer",
    "RecordedRequest",
    "Recording",
    "Reply",
    "error",
    "expected_text",
    "expected_thinking",
    "expected_usage",
    "load_recording",
    "page",
    "recordings_dir",
    "redirect",
    "replay",
    "spawn",
    "synthetic",
    "synthetic_pieces",
    "synthetic_text",
]

#: Provider families the server speaks.
PROVIDERS = ("openai", "anthropic", "ollama")

#: Recording replayed by each provider route when no reply was queued or set.
DEFAULT_RECORDINGS = {
    "openai": "openai_chat_include_usage_gpt4.sse",
    "anthropic": "anthropic_text_sonnet45.sse",
    "ollama": "ollama_chat_llama31_via_litellm.ndjson",
}

#: Recorded error body sent as the in-band error on the Anthropic route (Anthropic streams errors this way).
_ANTHROPIC_INBAND_ERROR = "anthropic_529_overloaded.json"

_ROUTES = {
    "/v1/chat/completions": "openai",
    "/chat/completions": "openai",
    "/v1/messages": "anthropic",
    "/api/chat": "ollama",
}

_STREAM_CONTENT_TYPES = {
    "openai": "text/event-stream; charset=utf-8",
    "anthropic": "text/event-stream; charset=utf-8",
    "ollama": "application/x-ndjson",
}

# Recorded headers that describe the original connection rather than the response; the server sets its own.
_DROPPED_HEADERS = {
    "connection",
    "content-length",
    "content-encoding",
    "date",
    "server",
    "set-cookie",
    "transfer-encoding",
    "content-type",
}


# --------------------------------------------------------------------------------------------------------------
# Recordings
# --------------------------------------------------------------------------------------------------------------


def recordings_dir() -> Path:
    """Return the directory of recorded provider responses.

    Source: ``$SCREENWRITER_SHARED/provider-streams`` when the env var is set, else ``../shared/provider-streams``
    relative to the repository. Raises FileNotFoundError when the directory does not exist.
    """
    shared = os.environ.get("SCREENWRITER_SHARED")
    base = Path(shared) if shared else Path(__file__).resolve().parents[1].parent / "shared"
    path = base / "provider-streams"
    if not path.is_dir():
        raise FileNotFoundError(f"provider recordings not found at {path} (set SCREENWRITER_SHARED)")
    return path


@dataclass(frozen=True)
class Answer:
    """What a response says, independent of the wire format.

    ``pieces`` are the text deltas in order (``"".join(pieces) == text``); ``thinking`` is the concatenated
    reasoning (never part of ``text``); ``usage`` has integer ``prompt_tokens``, ``completion_tokens`` and
    ``total_tokens``; ``native_usage`` is the provider's own final usage object (None for synthetic answers).
    """

    provider: str
    text: str
    pieces: tuple[str, ...]
    thinking: str
    signature: str
    usage: dict[str, int]
    native_usage: dict[str, Any] | None
    model: str
    id: str
    finish_reason: str


@dataclass(frozen=True)
class Recording:
    """One recorded provider response: raw bytes, HTTP metadata and (for 200 streams) the parsed answer.

    ``chunks`` are the wire units replayed one HTTP chunk each: an SSE event (with its blank line) or one
    NDJSON line. ``answer`` is None for error recordings.
    """

    name: str
    provider: str
    status: int
    content_type: str
    headers: dict[str, Any]
    raw: bytes
    chunks: tuple[bytes, ...]
    answer: Answer | None


def _provider_of(name: str) -> str:
    for provider in PROVIDERS:
        if name.startswith(provider + "_"):
            return provider
    raise ValueError(f"cannot tell the provider of recording {name!r}")


def _split_sse(raw: bytes) -> list[bytes]:
    """Split an SSE body into events, each ending with its blank line."""
    text = raw.replace(b"\r\n", b"\n")
    return [block.strip(b"\n") + b"\n\n" for block in text.split(b"\n\n") if block.strip(b"\n")]


def _sse_data(event: bytes) -> tuple[str | None, str]:
    """Return (event name, joined data) of one SSE event."""
    name, data = None, []
    for line in event.decode("utf-8").splitlines():
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip(" "))
    return name, "\n".join(data)


def _normalized_usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _parse_openai(chunks: list[bytes]) -> Answer:
    pieces, usage, finish, model, ident = [], None, "stop", "", ""
    for event in chunks:
        _, data = _sse_data(event)
        if data.startswith("[DONE]"):
            continue
        obj = json.loads(data)
        model, ident = obj.get("model", model), obj.get("id", ident)
        for choice in obj.get("choices") or []:
            content = (choice.get("delta") or {}).get("content")
            if content:
                pieces.append(content)
            finish = choice.get("finish_reason") or finish
        usage = obj.get("usage") or usage
    if usage is None:
        raise ValueError("OpenAI recording has no usage chunk")
    return Answer(
        "openai",
        "".join(pieces),
        tuple(pieces),
        "",
        "",
        _normalized_usage(usage["prompt_tokens"], usage["completion_tokens"]),
        usage,
        model,
        ident,
        finish,
    )


def _parse_anthropic(chunks: list[bytes]) -> Answer:
    pieces, thinking, signature, usage, finish, model, ident = [], [], [], {}, "end_turn", "", ""
    for event in chunks:
        _, data = _sse_data(event)
        obj = json.loads(data)
        kind = obj.get("type")
        if kind == "message_start":
            message = obj["message"]
            model, ident = message.get("model", ""), message.get("id", "")
            usage.update(message.get("usage") or {})
        elif kind == "content_block_delta":
            delta = obj["delta"]
            if delta.get("type") == "text_delta":
                pieces.append(delta["text"])
            elif delta.get("type") == "thinking_delta":
                thinking.append(delta["thinking"])
            elif delta.get("type") == "signature_delta":
                signature.append(delta["signature"])
        elif kind == "message_delta":
            usage.update(obj.get("usage") or {})
            finish = (obj.get("delta") or {}).get("stop_reason") or finish
    prompt = sum(usage.get(k) or 0 for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"))
    return Answer(
        "anthropic",
        "".join(pieces),
        tuple(pieces),
        "".join(thinking),
        "".join(signature),
        _normalized_usage(prompt, usage["output_tokens"]),
        usage,
        model,
        ident,
        finish,
    )


def _parse_ollama(chunks: list[bytes]) -> Answer:
    pieces, thinking, final, model = [], [], None, ""
    for line in chunks:
        obj = json.loads(line)
        model = obj.get("model", model)
        message = obj.get("message") or {}
        if message.get("content"):
            pieces.append(message["content"])
        if message.get("thinking"):
            thinking.append(message["thinking"])
        if obj.get("done"):
            final = obj
    if final is None:
        raise ValueError("Ollama recording has no final done line")
    native = {k: v for k, v in final.items() if k not in ("model", "created_at", "message", "done")}
    return Answer(
        "ollama",
        "".join(pieces),
        tuple(pieces),
        "".join(thinking),
        "",
        _normalized_usage(final.get("prompt_eval_count", 0), final.get("eval_count", 0)),
        native,
        model,
        "",
        final.get("done_reason", "stop"),
    )


_RECORDING_CACHE: dict[Path, Recording] = {}
_RECORDING_LOCK = threading.Lock()


def load_recording(name: str) -> Recording:
    """Load and parse a recording by file name (e.g. ``"anthropic_thinking_haiku45.sse"``).

    Reads ``<name>`` and ``<name>.meta.json`` from :func:`recordings_dir`. Raises FileNotFoundError for an
    unknown name and ValueError for a recording that cannot be parsed. Results are cached per path.
    """
    path = recordings_dir() / name
    with _RECORDING_LOCK:
        cached = _RECORDING_CACHE.get(path)
    if cached is not None:
        return cached
    raw = path.read_bytes()
    meta = json.loads(path.with_name(name + ".meta.json").read_text(encoding="utf-8"))
    headers = dict(meta.get("headers") or {})
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "application/octet-stream")
    provider, status = _provider_of(name), int(meta["status"])
    answer: Answer | None = None
    if name.endswith(".ndjson"):
        chunks = [line + b"\n" for line in raw.splitlines() if line.strip()]
    elif name.endswith(".sse"):
        chunks = _split_sse(raw)
    else:
        chunks = [raw]
    if status == 200 and provider == "openai" and name.endswith(".sse"):
        answer = _parse_openai(chunks)
    elif status == 200 and provider == "anthropic" and name.endswith(".sse"):
        answer = _parse_anthropic(chunks)
    elif status == 200 and provider == "ollama" and name.endswith(".ndjson"):
        answer = _parse_ollama(chunks)
    recording = Recording(name, provider, status, content_type, headers, raw, tuple(chunks), answer)
    with _RECORDING_LOCK:
        _RECORDING_CACHE[path] = recording
    return recording


def _answer_of(name: str) -> Answer:
    answer = load_recording(name).answer
    if answer is None:
        raise ValueError(f"{name} is not a successful streamed answer")
    return answer


def expected_text(name: str) -> str:
    """Return the answer text of a recording: its text deltas concatenated, reasoning excluded."""
    return _answer_of(name).text


def expected_thinking(name: str) -> str:
    """Return the reasoning ("thinking") text of a recording, "" when it has none."""
    return _answer_of(name).thinking


def expected_usage(name: str) -> dict[str, int]:
    """Return the final usage of a recording as ``{"prompt_tokens", "completion_tokens", "total_tokens"}``.

    Anthropic prompt tokens include cache reads/writes; completion tokens are the final ``message_delta``
    count; Ollama uses ``prompt_eval_count`` and ``eval_count``.
    """
    return dict(_answer_of(name).usage)


# --------------------------------------------------------------------------------------------------------------
# Synthetic answers
# --------------------------------------------------------------------------------------------------------------


def synthetic_pieces(tokens: int | None = None, text: str | None = None) -> list[str]:
    """Return the text pieces a synthetic reply streams.

    With ``text``: the text split before each run of whitespace (``"".join(pieces) == text``). Otherwise
    ``tokens`` pieces ``"tok0", " tok1", ...``. Raises ValueError when neither is given.
    """
    if text is not None:
        pieces = re.findall(r"\s*\S+", text)
        tail = text[len("".join(pieces)) :]
        return pieces + [tail] if tail else pieces
    if tokens is None:
        raise ValueError("synthetic reply needs tokens or text")
    return [f"tok{i}" if i == 0 else f" tok{i}" for i in range(tokens)]


def synthetic_text(tokens: int | None = None, text: str | None = None) -> str:
    """Return the full answer text of a synthetic reply (see :func:`synthetic_pieces`)."""
    return "".join(synthetic_pieces(tokens, text))


def _prompt_words(body: Any) -> int:
    """Count whitespace-separated words in the request's message texts: the synthetic prompt token count."""
    if not isinstance(body, dict):
        return 0
    texts: list[str] = []
    system = body.get("system")
    for content in [system] + [m.get("content") for m in body.get("messages") or [] if isinstance(m, dict)]:
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.extend(p.get("text", "") for p in content if isinstance(p, dict))
    return sum(len(t.split()) for t in texts)


def _synthetic_answer(reply: Reply, provider: str, body: Any) -> Answer:
    pieces = synthetic_pieces(reply.tokens, reply.text)
    model = (body.get("model") if isinstance(body, dict) else None) or "synthetic"
    return Answer(
        provider,
        "".join(pieces),
        tuple(pieces),
        "",
        "",
        _normalized_usage(_prompt_words(body), len(pieces)),
        None,
        model,
        f"synthetic-{uuid.uuid4().hex[:12]}",
        "stop",
    )


# --------------------------------------------------------------------------------------------------------------
# Wire formats
# --------------------------------------------------------------------------------------------------------------


def _json(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _sse(obj: Any, event: str | None = None) -> bytes:
    prefix = f"event: {event}\n" if event else ""
    return f"{prefix}data: {_json(obj)}\n\n".encode()


def _openai_usage(answer: Answer) -> dict[str, Any]:
    return answer.native_usage if answer.provider == "openai" and answer.native_usage else dict(answer.usage)


def _anthropic_usage(answer: Answer) -> dict[str, Any]:
    if answer.provider == "anthropic" and answer.native_usage:
        return dict(answer.native_usage)
    return {"input_tokens": answer.usage["prompt_tokens"], "output_tokens": answer.usage["completion_tokens"]}


def _ollama_final(answer: Answer) -> dict[str, Any]:
    if answer.provider == "ollama" and answer.native_usage:
        return dict(answer.native_usage)
    return {
        "done_reason": "stop",
        "total_duration": 0,
        "load_duration": 0,
        "prompt_eval_count": answer.usage["prompt_tokens"],
        "prompt_eval_duration": 0,
        "eval_count": answer.usage["completion_tokens"],
        "eval_duration": 0,
    }


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())


def _stream_chunks(provider: str, answer: Answer, body: Any) -> list[bytes]:
    """Render a synthetic answer as the wire chunks of ``provider``'s streaming format."""
    created = int(time.time())
    if provider == "openai":

        def chunk(choices: list[dict[str, Any]], usage: Any = None) -> bytes:
            return _sse(
                {
                    "id": answer.id,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": answer.model,
                    "system_fingerprint": None,
                    "choices": choices,
                    "usage": usage,
                }
            )

        def choice(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}

        out = [chunk([choice({"role": "assistant", "content": "", "refusal": None})])]
        out += [chunk([choice({"content": piece})]) for piece in answer.pieces]
        out.append(chunk([choice({}, answer.finish_reason)]))
        options = body.get("stream_options") if isinstance(body, dict) else None
        if isinstance(options, dict) and options.get("include_usage"):
            out.append(chunk([], _openai_usage(answer)))
        out.append(b"data: [DONE]\n\n")
        return out
    if provider == "anthropic":
        usage = _anthropic_usage(answer)
        start_usage = dict(usage, output_tokens=1)
        out = [
            _sse(
                {
                    "type": "message_start",
                    "message": {
                        "model": answer.model,
                        "id": answer.id,
                        "type": "message",
                        "role": "assistant",
                        "content": [],
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": start_usage,
                    },
                },
                "message_start",
            ),
            _sse(
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                "content_block_start",
            ),
            _sse({"type": "ping"}, "ping"),
        ]
        out += [
            _sse(
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}},
                "content_block_delta",
            )
            for piece in answer.pieces
        ]
        out += [
            _sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
            _sse(
                {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": usage},
                "message_delta",
            ),
            _sse({"type": "message_stop"}, "message_stop"),
        ]
        return out
    out = [
        (
            _json(
                {
                    "model": answer.model,
                    "created_at": _now_iso(),
                    "message": {"role": "assistant", "content": piece},
                    "done": False,
                }
            )
            + "\n"
        ).encode()
        for piece in answer.pieces
    ]
    final = {"model": answer.model, "created_at": _now_iso(), "message": {"role": "assistant", "content": ""}}
    final.update(_ollama_final(answer))
    final["done"] = True
    out.append((_json(final) + "\n").encode())
    return out


def _whole_body(provider: str, answer: Answer) -> dict[str, Any]:
    """Render an answer as ``provider``'s non-streaming JSON response."""
    if provider == "openai":
        return {
            "id": answer.id,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": answer.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer.text, "refusal": None},
                    "logprobs": None,
                    "finish_reason": answer.finish_reason,
                }
            ],
            "usage": _openai_usage(answer),
            "system_fingerprint": None,
        }
    if provider == "anthropic":
        content: list[dict[str, Any]] = []
        if answer.thinking:
            content.append({"type": "thinking", "thinking": answer.thinking, "signature": answer.signature})
        content.append({"type": "text", "text": answer.text})
        return {
            "model": answer.model,
            "id": answer.id,
            "type": "message",
            "role": "assistant",
            "content": content,
            "stop_reason": answer.finish_reason,
            "stop_sequence": None,
            "usage": _anthropic_usage(answer),
        }
    whole = {"model": answer.model, "created_at": _now_iso(), "message": {"role": "assistant", "content": answer.text}}
    whole.update(_ollama_final(answer))
    whole["done"] = True
    return whole


_INBAND_MESSAGE = "injected in-band error from ProviderServer"


def _inband_error(provider: str, reply: Reply) -> bytes:
    """Render the in-band error chunk sent under HTTP 200 (``event: error`` for SSE, an error line for NDJSON)."""
    if reply.error_body is not None:
        body = reply.error_body
    elif provider == "anthropic":
        body = _json(json.loads(load_recording(_ANTHROPIC_INBAND_ERROR).raw))
    elif provider == "openai":  # the shape of OpenAI's error objects (see openai_401_invalid_api_key.json)
        body = _json({"error": {"message": _INBAND_MESSAGE, "type": "server_error", "param": None, "code": None}})
    else:  # Ollama reports errors as {"error": "<text>"}
        body = _json({"error": _INBAND_MESSAGE})
    if provider == "ollama":
        return body.encode() + b"\n"
    return f"event: error\ndata: {body}\n\n".encode()


# --------------------------------------------------------------------------------------------------------------
# Replies (the script)
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """One scripted response. Build with :func:`replay`, :func:`synthetic` or :func:`error`.

    Content (first that applies): an error (``recording`` whose status is not 200, or ``status`` >= 400:
    answered with ``body`` and ``headers`` whatever the request); a ``recording`` replayed; a synthetic answer
    of ``tokens`` words or of ``text`` split into words; otherwise the route's default recording.

    Faults, counted in wire chunks (one SSE event or NDJSON line each):

    - ``first_byte_delay``: seconds before the status line is sent.
    - ``tokens_per_second``: pace chunks at this rate (None: as fast as the socket takes them).
    - ``stall_after`` k: after k chunks send nothing for ``stall_seconds`` (None: until the client closes or
      the server stops), then carry on.
    - ``close_after`` k: after k chunks drop the connection without ending the chunked body.
    - ``malformed_after`` k: after k chunks send one line of broken JSON (``data: {"choices": [{``) in the
      route's framing, then carry on.
    - ``no_usage``: on the OpenAI route, leave out the final usage chunk even when ``stream_options`` asks
      for it (as some OpenAI-compatible servers do).
    - ``split_bytes``: send every chunk as two HTTP chunks, flushed apart, cut inside its first multi-byte
      UTF-8 character (or in the middle when it has none), so a decoder sees half a character.
    - ``error_after`` k: after k chunks send an in-band error (``event: error`` / an ``{"error": ...}`` line,
      ``error_body``; default: the recorded Anthropic 529 body on the Anthropic route, an OpenAI-shaped
      ``server_error`` or an Ollama ``{"error": ...}`` line elsewhere) under HTTP 200, then end the body.
    - ``end_after`` k: after k chunks end the body cleanly (the chunked terminator): no finish reason, no
      usage, no ``[DONE]``, as a server that gave up without saying so.
    - ``cut_after`` k: after k chunks send the first half of chunk k (cut inside its JSON), then end the body
      cleanly.
    - ``invalid_utf8_after`` k: chunk k carries the byte 0xFF (never valid UTF-8) at the start of its first
      text value (``"content": "`` or ``"text": "``), so that delta's text begins with one undecodable byte;
      a decoder that replaces it yields U+FFFD there.
    - ``sse_extras``: on the SSE routes (OpenAI, Anthropic), surround every event with lines the SSE format
      allows and a client must skip: a comment (``: ping``) block before it, ``id:`` and ``retry:`` fields
      inside it, and an event of one empty ``data:`` line after it. Ignored on the NDJSON route.
    - ``short_by`` n: frame the body with a ``Content-Length`` (no chunked encoding) of its full size, send all
      but its last n bytes, then close the connection (a body shorter than its Content-Length). Applies to
      streams (all chunks joined) and whole JSON bodies alike.

    Statuses other than 200 (``status``: any 1xx-5xx but 200, e.g. 307 with a ``Location`` header from
    :func:`redirect`), and ``status`` 200 with a ``body`` (an HTML page, an ``{"error": ...}`` object: see
    :func:`page`), are sent as that status with ``body`` (default empty) and ``headers``, whatever the request.

    A recording is replayed byte for byte whatever the route (an Anthropic recording on the OpenAI route stays
    Anthropic), so pick the one matching the route unless the mismatch is the point of the test.
    ``stream=false`` requests get the whole answer as one JSON body (faults other than the delay and the error
    status do not apply).
    """

    recording: str | None = None
    tokens: int | None = None
    text: str | None = None
    status: int | None = None
    body: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    tokens_per_second: float | None = None
    first_byte_delay: float = 0.0
    stall_after: int | None = None
    stall_seconds: float | None = None
    close_after: int | None = None
    error_after: int | None = None
    malformed_after: int | None = None
    split_bytes: bool = False
    no_usage: bool = False
    error_body: str | None = None
    end_after: int | None = None
    cut_after: int | None = None
    invalid_utf8_after: int | None = None
    sse_extras: bool = False
    short_by: int | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reply:
        """Build a Reply from a JSON object with the field names above; unknown keys raise TypeError."""
        return cls(**data)


def replay(recording: str | None = None, **faults: Any) -> Reply:
    """Reply by replaying ``recording`` (None: the route's default recording) with optional faults."""
    return Reply(recording=recording, **faults)


def synthetic(
    tokens: int | None = None, text: str | None = None, tokens_per_second: float | None = None, **faults: Any
) -> Reply:
    """Reply with a synthetic answer in the route's format: ``tokens`` words "tok0 tok1 ..." or ``text``.

    Usage reports prompt tokens = words in the request's messages, completion tokens = pieces streamed.
    """
    if tokens is None and text is None:
        raise ValueError("synthetic() needs tokens or text")
    return Reply(tokens=tokens, text=text, tokens_per_second=tokens_per_second, **faults)


def error(what: str | int, body: str | None = None, headers: dict[str, str] | None = None, **faults: Any) -> Reply:
    """Reply with an HTTP error: a recorded error (``"anthropic_529_overloaded.json"``, with its status, body and
    headers, plus ``headers``) or a status code with ``body`` (default: an OpenAI-style error object).
    """
    if isinstance(what, str):
        return Reply(recording=what, headers=dict(headers or {}), **faults)
    if body is None:
        body = _json(
            {"error": {"message": f"injected HTTP {what}", "type": "server_error", "param": None, "code": None}}
        )
    return Reply(status=what, body=body, headers=dict(headers or {}), **faults)


def redirect(location: str, status: int = 307, **faults: Any) -> Reply:
    """Reply with a redirect: ``status`` (301, 302, 303, 307 or 308) and ``Location: <location>``, empty body."""
    if not 300 <= status < 400:
        raise ValueError(f"a redirect needs a 3xx status, not {status}")
    return Reply(status=status, body="", headers={"Location": location}, **faults)


def page(body: str, status: int = 200, content_type: str = "text/html; charset=utf-8", **faults: Any) -> Reply:
    """Reply with ``body`` as is under ``status`` (default 200) and ``content_type``: an HTML error page from a
    proxy or a sign-in portal, or a JSON error object sent with HTTP 200 (``content_type="application/json"``)."""
    return Reply(status=status, body=body, headers={"Content-Type": content_type}, **faults)


# --------------------------------------------------------------------------------------------------------------
# Request records
# --------------------------------------------------------------------------------------------------------------


@dataclass
class RecordedRequest:
    """One request the server received, updated while its response is sent.

    ``headers`` keys are lower-cased; ``body`` is the parsed JSON body (None when absent or not JSON);
    times are ``time.monotonic()`` seconds (system-wide on Linux, so comparable across processes).
    ``client_closed_at`` is set when the client went away before the response ended (EOF seen, or
    BrokenPipe/ConnectionReset on write). ``completed_at`` is set when the whole response was written.
    """

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    raw_body: bytes
    received_at: float
    provider: str | None = None
    status: int | None = None
    chunks_sent: int = 0
    completed_at: float | None = None
    client_closed_at: float | None = None
    _done: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)
    _closed: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)

    def wait_client_closed(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds until the client is seen closing mid-response; True if it did."""
        return self._closed.wait(timeout)

    def wait_done(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds until the handler finished with this request (any outcome)."""
        return self._done.wait(timeout)

    def to_json(self) -> dict[str, Any]:
        """Return the record as a JSON-able dict (raw body omitted)."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if not f.name.startswith("_") and f.name != "raw_body"
        }


# --------------------------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------------------------


class _ClientGone(Exception):
    pass


class _Stopping(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.owner.verbose:
            super().log_message(format, *args)

    def setup(self) -> None:
        super().setup()
        self.server.owner._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._track(self.connection, False)

    # -- request side ------------------------------------------------------------------------------------------

    def _read_record(self) -> RecordedRequest:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {k.lower(): v for k, v in self.headers.items()}
        path = self.path.split("?", 1)[0]
        return RecordedRequest(self.command, path, headers, body, raw, time.monotonic())

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        owner = self.server.owner
        record = self._read_record()
        if record.path == "/__records__":
            self._send_json(200, [r.to_json() for r in owner.requests()])
            return
        if record.path == "/__enqueue__":
            try:
                replies = [Reply.from_dict(r) for r in record.body.get("replies", [])]
                owner.enqueue(record.body["provider"], *replies)
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                self._send_json(400, {"error": f"bad /__enqueue__ body: {exc!r}"})
                return
            self._send_json(200, {"queued": len(replies)})
            return
        owner._record(record)
        try:
            self._answer(record)
        except _ClientGone:
            owner._mark(record, client_closed_at=time.monotonic())
            record._closed.set()
            self.close_connection = True
        except _Stopping:
            self.close_connection = True
        except Exception as exc:  # a broken script: tell the test through a 500 rather than a dropped socket
            self.close_connection = True
            if record.status is None:
                self._send_json(500, {"error": {"message": f"ProviderServer: {exc!r}", "type": "server_error"}}, record)
            raise
        finally:
            record._done.set()

    def _answer(self, record: RecordedRequest) -> None:
        owner = self.server.owner
        provider = _ROUTES.get(record.path) if record.method == "POST" else None
        if provider is None:
            self._answer_aux(record)
            return
        owner._mark(record, provider=provider)
        reply = owner._next_reply(provider)
        self._wait(reply.first_byte_delay, record)
        error_response = _error_response(reply)
        if error_response is not None:
            status, body, headers = error_response
            self._send_bytes(record, status, body, headers, reply.short_by)
            return
        body = record.body if isinstance(record.body, dict) else {}
        wants_stream = body.get("stream", provider == "ollama") is True
        is_synthetic = reply.tokens is not None or reply.text is not None
        recording = None if is_synthetic else load_recording(reply.recording or DEFAULT_RECORDINGS[provider])
        answer = recording.answer if recording is not None else _synthetic_answer(reply, provider, body)
        if answer is None:
            raise ValueError(f"recording {reply.recording} has no answer to send")
        extra = {k: v for k, v in (recording.headers if recording else {}).items() if k.lower() not in _DROPPED_HEADERS}
        extra.update(reply.headers)
        if not wants_stream:
            extra["Content-Type"] = "application/json"
            self._send_bytes(record, 200, _json(_whole_body(provider, answer)).encode(), extra, reply.short_by)
            return
        if reply.no_usage and isinstance(body, dict):
            body = dict(body, stream_options=None)
        chunks = list(recording.chunks) if recording is not None else _stream_chunks(provider, answer, body)
        chunks = _wire_faults(provider, reply, chunks)
        extra["Content-Type"] = recording.content_type if recording is not None else _STREAM_CONTENT_TYPES[provider]
        self._send_stream(record, provider, reply, chunks, extra)

    def _answer_aux(self, record: RecordedRequest) -> None:
        if record.path == "/v1/models" and record.method == "GET":
            models = sorted({_answer_of(name).model for name in DEFAULT_RECORDINGS.values()})
            self._send_json(
                200,
                {
                    "object": "list",
                    "data": [{"id": m, "object": "model", "created": 0, "owned_by": "provider-server"} for m in models],
                },
                record,
            )
        elif record.path == "/api/tags" and record.method == "GET":
            model = _answer_of(DEFAULT_RECORDINGS["ollama"]).model
            self._send_json(200, {"models": [{"name": model, "model": model, "size": 0, "details": {}}]}, record)
        elif record.path == "/api/show" and record.method == "POST":
            self._send_json(
                200,
                {
                    "modelfile": "",
                    "parameters": "",
                    "template": "{{ .Prompt }}",
                    "details": {"family": "llama"},
                    "model_info": {"llama.context_length": 131072},
                },
                record,
            )
        else:
            self._send_json(
                404,
                {"error": {"message": f"no route {record.method} {record.path}", "type": "invalid_request_error"}},
                record,
            )

    # -- response side -----------------------------------------------------------------------------------------

    def _send_json(self, status: int, obj: Any, record: RecordedRequest | None = None) -> None:
        self._send_bytes(record, status, _json(obj).encode(), {"Content-Type": "application/json"})

    def _send_bytes(
        self,
        record: RecordedRequest | None,
        status: int,
        body: bytes,
        headers: dict[str, Any],
        short_by: int | None = None,
    ) -> None:
        self._start(record, status, headers, {"Content-Length": str(len(body))})
        if short_by:
            self._write(record, body[: max(0, len(body) - short_by)])
            self._drop()
            return
        self._write(record, body)
        if record is not None:
            self.server.owner._mark(record, completed_at=time.monotonic())

    def _start(
        self, record: RecordedRequest | None, status: int, headers: dict[str, Any], framing: dict[str, str]
    ) -> None:
        self.send_response(status)
        for key, value in {**headers, **framing}.items():
            for item in value if isinstance(value, list) else [value]:
                self.send_header(key, str(item))
        try:
            self.end_headers()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError) as exc:
            raise _ClientGone from exc
        if record is not None:
            self.server.owner._mark(record, status=status)

    def _write(self, record: RecordedRequest | None, data: bytes) -> None:
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError) as exc:
            raise _ClientGone from exc

    def _send_stream(
        self, record: RecordedRequest, provider: str, reply: Reply, chunks: list[bytes], headers: dict[str, Any]
    ) -> None:
        owner = self.server.owner
        if reply.short_by is not None:
            body = b"".join(chunks)
            self._start(record, 200, headers, {"Content-Length": str(len(body)), "Cache-Control": "no-cache"})
            self._write(record, body[: max(0, len(body) - reply.short_by)])
            owner._mark(record, chunks_sent=len(chunks))
            self._drop()
            return
        self._start(record, 200, headers, {"Transfer-Encoding": "chunked", "Cache-Control": "no-cache"})
        interval = 1.0 / reply.tokens_per_second if reply.tokens_per_second else 0.0
        for index in range(len(chunks) + 1):
            if index == reply.close_after:
                self._drop()
                return
            if index == reply.error_after:
                self._write_chunk(record, _inband_error(provider, reply))
                break
            if index == len(chunks) or index == reply.end_after:
                break
            if index == reply.cut_after:
                self._write_chunk(record, chunks[index][: max(1, len(chunks[index]) // 2)])
                break
            if index == reply.stall_after:
                self._wait(reply.stall_seconds, record)
            if index == reply.malformed_after:
                broken = b'{"choices": [{'
                self._write_chunk(record, broken + b"\n" if provider == "ollama" else b"data: " + broken + b"\n\n")
            if interval and index:
                self._wait(interval, record)
            self._check_client(record)
            if reply.split_bytes:
                data = chunks[index]
                cut = next((i + 1 for i, byte in enumerate(data) if byte >= 0xC0), len(data) // 2)
                self._write_chunk(record, data[:cut])
                self._wait(0.005, record)
                self._write_chunk(record, data[cut:])
            else:
                self._write_chunk(record, chunks[index])
            owner._mark(record, chunks_sent=record.chunks_sent + 1)
        self._write(record, b"0\r\n\r\n")
        owner._mark(record, completed_at=time.monotonic())

    def _write_chunk(self, record: RecordedRequest, data: bytes) -> None:
        self._write(record, b"%x\r\n%s\r\n" % (len(data), data))

    def _drop(self) -> None:
        """Drop the connection mid-body: the client sees the peer close without the chunked terminator."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _check_client(self, record: RecordedRequest) -> None:
        """Raise _ClientGone when the client has closed its side (EOF or reset on the socket)."""
        if self.server.owner._stopping.is_set():
            raise _Stopping
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if readable and self.connection.recv(1, socket.MSG_PEEK) == b"":
                raise _ClientGone
        except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError) as exc:
            raise _ClientGone from exc
        except (OSError, ValueError) as exc:  # socket already closed by stop()
            raise _Stopping from exc

    def _wait(self, seconds: float | None, record: RecordedRequest) -> None:
        """Sleep ``seconds`` (None: forever) while watching for the client closing and the server stopping."""
        owner = self.server.owner
        deadline = None if seconds is None else time.monotonic() + seconds
        while True:
            remaining = 0.05 if deadline is None else deadline - time.monotonic()
            if remaining <= 0:
                return
            if owner._stopping.is_set():
                raise _Stopping
            self._check_client(record)
            owner._stopping.wait(min(remaining, 0.02))


_TEXT_VALUE = re.compile(rb'"(?:content|text)"\s*:\s*"')
_SSE_RETRY_MS = 3000


def _wire_faults(provider: str, reply: Reply, chunks: list[bytes]) -> list[bytes]:
    """Apply the faults that change the bytes of the stream's chunks (``invalid_utf8_after``, ``sse_extras``);
    the number of chunks stays the same, so the chunk-counted faults keep their meaning."""
    out = list(chunks)
    k = reply.invalid_utf8_after
    if k is not None and 0 <= k < len(out):
        match = _TEXT_VALUE.search(out[k])
        if match is None:
            raise ValueError(f"chunk {k} has no text value to put an invalid byte into: {out[k][:80]!r}")
        out[k] = out[k][: match.end()] + b"\xff" + out[k][match.end() :]
    if reply.sse_extras and provider != "ollama":
        out = [
            b": ping\n\n"
            + b"id: %d\n" % index
            + (b"retry: %d\n" % _SSE_RETRY_MS if index == 0 else b"")
            + chunk
            + b"data:\n\n"
            for index, chunk in enumerate(out)
        ]
    return out


def _error_response(reply: Reply) -> tuple[int, bytes, dict[str, Any]] | None:
    """Return (status, body, headers) when the reply is an HTTP error, else None."""
    if reply.recording is not None:
        recording = load_recording(reply.recording)
        if recording.status != 200:
            headers = {k: v for k, v in recording.headers.items() if k.lower() not in _DROPPED_HEADERS}
            headers["Content-Type"] = recording.content_type
            headers.update(reply.headers)
            return reply.status or recording.status, recording.raw, headers
    if reply.status is not None and (reply.status != 200 or reply.body is not None):
        headers = {"Content-Type": "application/json", **reply.headers} if reply.body else dict(reply.headers)
        return reply.status, (reply.body or "").encode(), headers
    return None


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: ProviderServer


class ProviderServer:
    """A loopback HTTP server speaking the OpenAI, Anthropic and Ollama chat wire formats.

    ``defaults`` maps a provider ("openai", "anthropic", "ollama") to the Reply used when its queue is empty
    (default: :data:`DEFAULT_RECORDINGS` replayed). Use as a context manager or call :meth:`start` /
    :meth:`stop`. Binds ``host``:``port`` (port 0: any free port). Thread-safe.
    """

    def __init__(
        self, defaults: dict[str, Reply] | None = None, host: str = "127.0.0.1", port: int = 0, verbose: bool = False
    ) -> None:
        self.host, self.port, self.verbose = host, port, verbose
        self._lock = threading.Lock()
        self._defaults: dict[str, Reply] = {p: Reply() for p in PROVIDERS}
        for provider, reply in (defaults or {}).items():
            self.set_default(provider, reply)
        self._queues: dict[str, collections.deque[Reply]] = {p: collections.deque() for p in PROVIDERS}
        self._records: list[RecordedRequest] = []
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind and serve in a daemon thread; returns self. Raises OSError when the port cannot be bound."""
        httpd = _HTTPServer((self.host, self.port), _Handler)
        httpd.owner = self
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=f"ProviderServer:{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: end stalls, close open connections, release the port. Idempotent."""
        httpd = self._httpd
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (no trailing slash)."""
        return f"http://{self.host}:{self.port}"

    def api_base(self, provider: str) -> str:
        """The ``api_base`` to give LiteLLM for ``provider``: ``base_url + "/v1"`` for openai, else base_url."""
        if provider not in PROVIDERS:
            raise ValueError(f"unknown provider {provider!r}")
        return self.base_url + "/v1" if provider == "openai" else self.base_url

    # -- script ------------------------------------------------------------------------------------------------

    def set_default(self, provider: str, reply: Reply) -> None:
        """Use ``reply`` for every ``provider`` request once its queue is empty."""
        if provider not in PROVIDERS:
            raise ValueError(f"unknown provider {provider!r}")
        with self._lock:
            self._defaults[provider] = reply

    def enqueue(self, provider: str, *replies: Reply) -> None:
        """Answer the next ``provider`` requests with ``replies``, in order, then fall back to the default."""
        if provider not in PROVIDERS:
            raise ValueError(f"unknown provider {provider!r}")
        with self._lock:
            self._queues[provider].extend(replies)

    def clear_queues(self) -> list[Reply]:
        """Drop every queued reply and restore each route's default recording (a test's leftovers must not
        answer the next test); returns the dropped replies."""
        with self._lock:
            dropped = [reply for queue in self._queues.values() for reply in queue]
            for queue in self._queues.values():
                queue.clear()
            self._defaults = {p: Reply() for p in PROVIDERS}
        return dropped

    def _next_reply(self, provider: str) -> Reply:
        with self._lock:
            queue = self._queues[provider]
            return queue.popleft() if queue else self._defaults[provider]

    # -- records -----------------------------------------------------------------------------------------------

    def requests(self, path: str | None = None, provider: str | None = None) -> list[RecordedRequest]:
        """Return the recorded requests in arrival order, optionally only those to ``path`` or ``provider``."""
        with self._lock:
            records = list(self._records)
        return [r for r in records if (path is None or r.path == path) and (provider is None or r.provider == provider)]

    def wait_for_requests(self, count: int, timeout: float = 5.0, **filters: str) -> list[RecordedRequest]:
        """Wait until at least ``count`` matching requests arrived; return them. Raises TimeoutError."""
        deadline = time.monotonic() + timeout
        while True:
            records = self.requests(**filters)
            if len(records) >= count:
                return records
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(records)} of {count} requests arrived within {timeout} s")
            time.sleep(0.01)

    def _record(self, record: RecordedRequest) -> None:
        with self._lock:
            self._records.append(record)

    def _mark(self, record: RecordedRequest, **changes: Any) -> None:
        with self._lock:
            for key, value in changes.items():
                setattr(record, key, value)

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)


# --------------------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------------------


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--ready-file", type=Path, help='write {"port", "base_url", "pid"} as JSON here once serving')
    parser.add_argument(
        "--recording", action="append", default=[], help="replay this recording on its provider's route (repeatable)"
    )
    parser.add_argument("--synthetic-tokens", type=int, help="stream N synthetic tokens on every route")
    parser.add_argument("--text", help="stream this text (split into words) on every route")
    parser.add_argument("--tokens-per-second", type=float, help="pace stream chunks at this rate")
    parser.add_argument("--first-byte-delay", type=float, default=0.0)
    parser.add_argument("--stall-after", type=int)
    parser.add_argument("--stall-seconds", type=float)
    parser.add_argument("--close-after", type=int)
    parser.add_argument("--error-after", type=int)
    parser.add_argument(
        "--fail-first",
        action="append",
        default=[],
        metavar="ERROR_RECORDING",
        help="answer the first request of the recording's provider with this error (repeatable)",
    )
    parser.add_argument("--verbose", action="store_true", help="log each request to stderr")
    return parser.parse_args(argv)


def spawn(workdir: Path, *args: str, timeout: float = 20.0) -> tuple[subprocess.Popen[bytes], str]:
    """Start this server out of process, as the benchmarks and the window tiers use it: ``python
    tests/provider_server.py --port 0 --ready-file <workdir>/server-ready.json *args`` with its output in
    ``<workdir>/server.log``; wait for the ready file.

    Returns:
        The process (stop it with ``terminate``) and the server's base URL (``http://127.0.0.1:<port>``).

    Raises:
        RuntimeError: The server exited, or wrote no ready file within ``timeout`` seconds (it is killed); the
            message holds its log.
    """
    ready = workdir / "server-ready.json"
    log_path = workdir / "server.log"
    with log_path.open("wb") as log:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--port", "0", "--ready-file", str(ready), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + timeout
    while not ready.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the provider server did not start: {log_path.read_text(errors='replace')}")
        time.sleep(0.02)
    return process, json.loads(ready.read_text())["base_url"]


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM/SIGINT. Returns the exit status."""
    args = _parse_args(argv)
    faults = {
        "tokens_per_second": args.tokens_per_second,
        "first_byte_delay": args.first_byte_delay,
        "stall_after": args.stall_after,
        "stall_seconds": args.stall_seconds,
        "close_after": args.close_after,
        "error_after": args.error_after,
    }
    defaults: dict[str, Reply] = {}
    for provider in PROVIDERS:
        if args.synthetic_tokens is not None or args.text is not None:
            defaults[provider] = Reply(tokens=args.synthetic_tokens, text=args.text, **faults)
        else:
            defaults[provider] = Reply(**faults)
    for name in args.recording:
        load_recording(name)
        defaults[_provider_of(name)] = Reply(recording=name, **faults)
    server = ProviderServer(defaults, host=args.host, port=args.port, verbose=args.verbose)
    for name in args.fail_first:
        load_recording(name)
        server.enqueue(_provider_of(name), error(name))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with server:
        if args.ready_file is not None:
            tmp = args.ready_file.with_name(args.ready_file.name + ".tmp")
            tmp.write_text(json.dumps({"port": server.port, "base_url": server.base_url, "pid": os.getpid()}))
            os.replace(tmp, args.ready_file)
        print(server.base_url, flush=True)
        while not stop.wait(0.2):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
