"""The one redactor: keeps API keys out of every message, report, log line and Text the add-on writes.

A key is replaced by a short form that shows at most its last four characters (``sk-…wxyz``), and none
at all when the key is shorter than :data:`SHORT_SECRET` characters (``…``). A known, non-secret prefix
that says what kind of key it is (``sk-``, ``sk-ant-api03-``, ``AIza``...) may stay in front.

What is redacted, in this order: the secrets the caller passes (a key from the keyring or the
preferences), the values of the provider key environment variables that are set
(:data:`.providers.PROVIDER_KEY_ENV` and the other names LiteLLM reads), then anything shaped like a
provider key or a bearer token. Pure Python; never imports ``bpy`` or LiteLLM.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

from .providers import OTHER_KEY_ENV, PROVIDER_KEY_ENV

#: Keys shorter than this show no character at all in their short form.
SHORT_SECRET = 12
#: Secrets shorter than this are not searched for in free text (every "x" or "test" in a message
#: would go); secrets from here up to :data:`SHORT_SECRET` are replaced only as whole words.
MIN_SECRET = 4
#: The mark that stands for the hidden part of a key.
ELLIPSIS = "…"

#: Prefixes that say what kind of key it is, not which key: they may stay in a short form. Longest first.
KNOWN_PREFIXES: tuple[str, ...] = tuple(
    sorted(
        (
            "sk-ant-api03-",
            "sk-ant-admin01-",
            "sk-ant-",
            "sk-proj-",
            "sk-svcacct-",
            "sk-admin-",
            "sk-or-v1-",
            "sk-",
            "AIza",
            "gsk_",
            "xai-",
            "hf_",
            "pplx-",
            "fw_",
        ),
        key=len,
        reverse=True,
    )
)

_WORD = r"A-Za-z0-9_\-"
# Shapes of provider keys (OpenAI, Anthropic, OpenRouter, DeepSeek "sk-...", Google "AIza...", Groq
# "gsk_...", xAI "xai-...", Hugging Face "hf_...", Perplexity "pplx-..."), bearer tokens and
# "api_key=..." / "x-api-key: ..." pairs. Group "key" is what is replaced.
_KEY_SHAPES = (
    re.compile(rf"(?<![{_WORD}])(?P<key>(?:sk-|gsk_|xai-|pplx-)[{_WORD}]{{16,}})"),
    re.compile(rf"(?<![{_WORD}])(?P<key>AIza[{_WORD}]{{20,}})"),
    re.compile(rf"(?<![{_WORD}])(?P<key>hf_[A-Za-z0-9]{{20,}})"),
    # A bearer token has a digit somewhere: "the bearer responsibilities-of-office" is prose.
    re.compile(r"(?i)(?<![A-Za-z0-9])bearer\s+(?P<key>(?=[A-Za-z0-9._~+/\-]*\d)[A-Za-z0-9._~+/\-]{16,}=*)"),
    re.compile(rf"(?i)(?:api[_\-]?key|x-api-key|authorization)['\"]?\s*[:=]\s*['\"]?(?P<key>[{_WORD}.]{{12,}})"),
)


#: Text that none of :data:`_KEY_SHAPES` can match in lacks all of these (each shape needs one of them, matched
#: here without case): the shapes' five searches are skipped for it (most of a streamed answer, every tick).
_MAY_BE_SHAPED = re.compile(r"(?i)sk-|gsk_|xai-|pplx-|aiza|hf_|bearer|api|authorization")


def redact_key(value: str) -> str:
    """A key shortened for display: a known prefix, ``…`` and the last four characters
    (``sk-proj-…abcd``); only ``…`` for a key shorter than 12 characters, and no tail either when
    what follows the prefix is shorter than that. Never shows more than the last four characters."""
    if len(value) < SHORT_SECRET:
        return ELLIPSIS
    prefix = next((p for p in KNOWN_PREFIXES if value.startswith(p)), "")
    rest = value[len(prefix) :]
    if len(rest) < SHORT_SECRET:
        return prefix + ELLIPSIS
    return f"{prefix}{ELLIPSIS}{rest[-4:]}"


def environment_secrets() -> list[str]:
    """The values of the provider key environment variables that are set now."""

    names = {*PROVIDER_KEY_ENV.values(), *OTHER_KEY_ENV}
    return [value for value in (os.environ.get(name) for name in sorted(names)) if value]


def redact(text: str, secrets: Iterable[str | None] = (), *, environment: bool = True) -> str:
    """``text`` with each of ``secrets``, each provider key found in the environment and anything
    shaped like a provider key or bearer token replaced by its short form (:func:`redact_key`).

    ``None`` and empty secrets are ignored; secrets shorter than 4 characters are not searched for,
    and those shorter than 12 only as whole words. ``environment=False``: the environment's keys are
    not looked up (the caller passed them in ``secrets``, read once: :class:`...texts.StreamWriter`,
    which redacts every piece of a stream).
    """
    if not text:
        return text
    if isinstance(secrets, str):  # one secret passed bare: never iterate its characters
        secrets = (secrets,)
    found = environment_secrets() if environment else ()
    values = {s.strip() for s in (*secrets, *found) if s and len(s.strip()) >= MIN_SECRET}
    for value in sorted(values, key=len, reverse=True):
        if value not in text:
            continue
        if len(value) >= SHORT_SECRET:
            text = text.replace(value, redact_key(value))
        else:
            text = re.sub(rf"(?<![{_WORD}]){re.escape(value)}(?![{_WORD}])", ELLIPSIS, text)
    if _MAY_BE_SHAPED.search(text):
        for shape in _KEY_SHAPES:
            text = shape.sub(_shorten, text)
    return text


def _shorten(match: re.Match[str]) -> str:
    start, end = match.span("key")
    whole = match.group(0)
    offset = match.start(0)
    return whole[: start - offset] + redact_key(match.group("key")) + whole[end - offset :]
