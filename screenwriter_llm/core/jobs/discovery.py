"""Model discovery: which models an endpoint offers (Refresh Models; ``screenwriter_llm.api.list_models``).

- A studio gateway (LiteLLM Proxy) and any OpenAI-compatible server: ``GET <api base>/v1/models`` with the key as
  a Bearer token (OpenAI API reference, "Models: list"; the proxy answers with its aliases and, for each, the
  ``max_input_tokens`` it knows);
- a local Ollama: ``GET <base>/api/tags`` (Ollama API docs, "List Local Models").

Every request goes through the one network gate (:func:`..provider.netgate.check_online_access`) and the one guarded
HTTP client (:func:`..provider.llm.http_client`: no cross-origin redirects), on a worker thread only (it imports
httpx and LiteLLM). Each model gets its context window and price where the gateway or LiteLLM's offline map knows
them. Pure Python, no ``bpy``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ..accounting import cost as costs
from ..provider import errors, gateway, netgate
from ..provider.redact import redact

#: Seconds a model listing may take (connect and read).
LIST_TIMEOUT = 10.0
#: Bytes of a model list read at most (a gateway's list of a few hundred models is well under 1 MiB).
MAX_LIST_BYTES = 8 * 2**20


class DiscoveryError(Exception):
    """The endpoint's models could not be listed; ``str()`` is the message for the user (redacted)."""


@dataclass(frozen=True)
class ListedModel:
    """One model an endpoint offers: ``id`` as the endpoint names it, ``context_window`` (tokens) and prices (USD
    per million input / output tokens), each None when neither the endpoint nor LiteLLM's map knows it."""

    id: str
    context_window: int | None = None
    input_usd_per_mtok: float | None = None
    output_usd_per_mtok: float | None = None

    def describe(self) -> str:
        """One line for the model field's search list, e.g. ``"128,000 tokens · $2.50 / $10.00 per M"``."""
        parts = []
        if self.context_window:
            parts.append(f"{self.context_window:,} tokens")
        if self.input_usd_per_mtok is not None and self.output_usd_per_mtok is not None:
            parts.append(f"${self.input_usd_per_mtok:,.2f} / ${self.output_usd_per_mtok:,.2f} per M")
        return " · ".join(parts)


@dataclass(frozen=True)
class ModelList:
    """What an endpoint listed: ``url`` (where it was asked, without any query), ``kind`` (``gateway``,
    ``openai-compatible`` or ``ollama``), ``prefix`` (how the add-on writes these models: ``litellm_proxy/``,
    ``openai/``, ``ollama_chat/``), the ``models`` and ``fetched_at`` (``time.time()`` seconds)."""

    url: str
    kind: str
    prefix: str
    models: tuple[ListedModel, ...]
    fetched_at: float

    @property
    def ids(self) -> tuple[str, ...]:
        """The model ids as the endpoint names them."""
        return tuple(m.id for m in self.models)

    def summary(self) -> str:
        """``"gateway reached, 2 models"`` (a gateway) or ``"3 models at http://localhost:11434"``."""
        count = f"{len(self.models)} model{'s' if len(self.models) != 1 else ''}"
        if self.kind == "gateway":
            return f"gateway reached, {count}"
        return f"{count} at {netgate.display_url(self.url)}"


def endpoint_key(model: str, api_base: str | None) -> str:
    """The key model lists are kept under: the endpoint a request for ``model`` goes to."""
    kind, url, _ = listing(model, api_base)
    return f"{kind} {url}"


def listing(model: str, api_base: str | None) -> tuple[str, str, str]:
    """``(kind, url, prefix)`` of the listing for ``model`` at ``api_base``. Raises :class:`DiscoveryError` when
    the endpoint has no model listing the add-on can read (a provider's own public API other than OpenAI's)."""
    model = model.strip()
    provider = model.split("/", 1)[0] if "/" in model else "openai"
    base = (netgate.endpoint_for(model, api_base) or "").rstrip("/")
    if provider in ("ollama", "ollama_chat"):
        return "ollama", (base or "http://localhost:11434") + "/api/tags", provider + "/"
    if gateway.is_gateway(model) or (api_base and provider in ("openai", "hosted_vllm", "lm_studio")):
        if not base:
            raise DiscoveryError(
                f"'{model}' goes through a LiteLLM Proxy: set API Base in the add-on preferences to the gateway's "
                "URL (for example http://gateway.studio.lan:4000) to list its models."
            )
        url = base + ("/models" if base.endswith("/v1") else "/v1/models")
        return ("gateway" if gateway.is_gateway(model) else "openai-compatible"), url, provider + "/"
    if provider == "openai" and not base:
        return "openai-compatible", "https://api.openai.com/v1/models", "openai/"
    raise DiscoveryError(
        f"Listing models works for a studio gateway (litellm_proxy/...), OpenAI and OpenAI-compatible servers, and "
        f"Ollama; '{provider}' models are written by hand (LiteLLM's form provider/model)."
    )


def _price(model_id: str, prefix: str, given_window: Any) -> ListedModel:
    window = int(given_window) if isinstance(given_window, (int, float)) and given_window > 0 else None
    info = None
    for name in (model_id, prefix + model_id):
        info = costs.lookup_model(name)
        if info is not None:
            break
    if info is None:
        return ListedModel(model_id, window)
    rates = info.rates
    return ListedModel(model_id, window or info.max_input_tokens, rates[0] * 1e6, rates[1] * 1e6)


def fetch(model: str, api_base: str | None, api_key: str | None, online: bool) -> ModelList:
    """List the models of the endpoint ``model`` goes to (see the module notes). Worker thread only.

    Raises:
        DiscoveryError: online access is off for a remote endpoint, the endpoint cannot be reached, refuses the key
            (a gateway's refusal is named as the gateway's) or answers with something that is not a model list.
    """
    kind, url, prefix = listing(model, api_base)
    try:
        netgate.check_online_access(model, api_base, online)
    except netgate.OnlineAccessDisabled as exc:
        raise DiscoveryError(str(exc)) from exc
    import httpx

    from ..provider.llm import ProviderResponseError, http_client

    shown = netgate.display_url(url)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key and kind != "ollama" else {}
    try:
        with http_client().stream(
            "GET", url, headers=headers, timeout=httpx.Timeout(LIST_TIMEOUT, connect=5.0)
        ) as response:
            parts: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                parts.append(chunk)
                size += len(chunk)
                if size > MAX_LIST_BYTES:
                    raise DiscoveryError(
                        f"{shown} answered with more than {MAX_LIST_BYTES // 2**20} MiB instead of a list of models; "
                        "check API Base in the add-on preferences."
                    )
            body_bytes = b"".join(parts)
    except ProviderResponseError as exc:
        raise DiscoveryError(redact(str(exc), (api_key,))) from exc
    except httpx.HTTPError as exc:
        detail = errors.cause_summary(exc, secrets=(api_key,))
        message = (
            gateway.down_message(shown, detail)
            if kind == "gateway"
            else (
                f"Could not list the models at {shown}: {detail}. Check that the server is running and API Base in "
                "the add-on preferences."
            )
        )
        raise DiscoveryError(message) from exc
    try:
        import json

        body = json.loads(body_bytes.decode("utf-8", "replace"))
    except ValueError:
        body = None
    if response.status_code >= 400:
        refused = (
            gateway.refusal(response.status_code, body, dict(response.headers), shown, model)
            if kind == "gateway"
            else None
        )
        said = gateway.error_fields(body)[0]
        message = (
            refused.message
            if refused is not None
            else (
                f"{shown} refused to list its models (HTTP {response.status_code}){': ' + said if said else ''}. "
                "Check the key and API Base in the add-on preferences."
            )
        )
        raise DiscoveryError(redact(message, (api_key,)))
    entries: list[Any] = []
    if isinstance(body, dict):
        entries = body.get("models" if kind == "ollama" else "data") or []
    if not isinstance(entries, list):
        entries = []
    models: list[ListedModel] = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        name = entry.get("name" if kind == "ollama" else "id") or entry.get("model")
        if isinstance(name, str) and name.strip():
            models.append(_price(name.strip(), prefix, entry.get("max_input_tokens")))
    if body is None or (not models and not isinstance(body, dict)):
        raise DiscoveryError(f"{shown} answered (HTTP {response.status_code}) but not with a list of models.")
    return ModelList(url, kind, prefix, tuple(sorted(models, key=lambda m: m.id.lower())), time.time())
