"""Token counts, cost in USD and context windows, from LiteLLM's offline model map.

Every function here that takes a model string imports LiteLLM (through :func:`.llm.import_litellm`, which
keeps the cost map local: ``LITELLM_LOCAL_MODEL_COST_MAP=True``) and is therefore **worker-thread only**:
the first import costs about 3 s and 165 MB and must never happen on Blender's main thread (DESIGN.md).
The dataclasses and the formatting helpers are plain Python and safe anywhere.

Model strings are LiteLLM's ``provider/model`` form (``openai/gpt-4o-mini``, ``anthropic/claude-sonnet-4-5``,
``ollama_chat/llama3.1``). LiteLLM 1.106.2 resolves them with or without the provider prefix
(``cost_per_token`` tries ``provider/model``, the string as given, then the string without its prefix;
``get_model_info`` does the same and more).

Rules, and where they come from:

- A model is *in the map* when ``litellm.get_model_info`` finds it in ``litellm.model_cost`` (the
  offline ``model_prices_and_context_window.json`` bundled with LiteLLM). Its cost is
  ``litellm.cost_per_token`` (USD for the prompt tokens, USD for the completion tokens).
- A model not in the map (a local model, a custom endpoint's own name) has **no** cost: ``usd`` is None
  and the UI says "cost unknown", unless the user set rates, which are then applied through
  ``cost_per_token(custom_cost_per_token=...)``. Never a made-up number: for providers whose model info
  LiteLLM fetches from the running server (Ollama's ``/api/show``, Lemonade's ``/models``; found with
  ``ProviderConfigManager.get_provider_model_info``), LiteLLM 1.106.2 invents $0 rates and a network
  call when the model is not in the static map; such models are treated as unknown *without* asking
  LiteLLM, so no request leaves the machine and no $0 is shown.
- Token counts made here are estimates (``litellm.token_counter``: tiktoken for OpenAI-style models,
  the model's own tokenizer for a few families); counts reported by the provider are exact.
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ..provider.llm import import_litellm

#: (USD per input token, USD per output token): LiteLLM's unit in ``model_cost``.
Rates = tuple[float, float]
#: An OpenAI-style chat message: ``{"role": "system" | "user" | "assistant", "content": str}``.
Message = Mapping[str, Any]

TokenSource = Literal["provider", "estimate"]
Pricing = Literal["map", "custom", "unknown", "cached", "gateway"]


@dataclass(frozen=True)
class ModelInfo:
    """What LiteLLM's offline map says about a model.

    ``key`` is the map entry that matched (``gpt-4-0613`` for ``openai/gpt-4-0613``); ``provider`` is
    LiteLLM's provider name; ``max_input_tokens`` is the context window in tokens (None when the map
    does not say); ``max_output_tokens`` the largest completion; ``rates`` the base USD per token
    (tiered prices above e.g. 200k tokens are applied by ``cost_per_token``, not shown here).
    """

    key: str
    provider: str
    max_input_tokens: int | None
    max_output_tokens: int | None
    rates: Rates


@dataclass(frozen=True)
class Cost:
    """Tokens and money for one request.

    ``input_tokens``/``output_tokens``: prompt and completion tokens. ``usd``: total cost in USD, or
    None when it is unknown (model not in LiteLLM's map and no user rates). ``rates``: (USD per input
    token, USD per output token) used, or None. ``estimated_tokens``: True when the counts come from
    :func:`count_tokens` rather than the provider (``source`` says the same: ``"provider"`` or
    ``"estimate"``). ``pricing``: ``"map"`` (LiteLLM's offline map), ``"custom"`` (the user's rates),
    ``"unknown"``, ``"cached"`` (answered from the local cache: $0, see :meth:`cached`) or ``"gateway"``
    (the price a studio gateway reported, at its own rates, which may differ from LiteLLM's public map).
    """

    input_tokens: int
    output_tokens: int
    usd: float | None
    rates: Rates | None
    estimated_tokens: bool
    source: TokenSource
    pricing: Pricing = "unknown"

    @classmethod
    def cached(cls, input_tokens: int | None, output_tokens: int | None) -> Cost:
        """An answer served from the local cache: no provider call, $0; the tokens are the ones the
        provider reported when the answer was first made (0 when it reported none)."""
        return cls(input_tokens or 0, output_tokens or 0, 0.0, None, False, "provider", "cached")

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    def describe(self) -> str:
        """One line for a status bar or report, e.g.
        ``"12 in / 5 out / 17 total tokens, $0.00066 at $30/M in, $60/M out"``; estimated counts are
        marked ``"≈"`` and ``"(estimated)"``; an unknown cost reads ``"cost unknown"``."""
        approx = "≈" if self.estimated_tokens else ""
        text = (
            f"{approx}{self.input_tokens} in / {approx}{self.output_tokens} out / "
            f"{approx}{self.total_tokens} total tokens"
        )
        if self.estimated_tokens:
            text += " (estimated)"
        if self.pricing == "cached":
            return text + ", cached: $0.00 (no request sent)"
        if self.pricing == "gateway" and self.usd is not None:
            return text + f", {format_usd(self.usd)} (the gateway's price)"
        if self.usd is None:
            return text + ", cost unknown"
        text += f", {approx}{format_usd(self.usd)}"
        if self.rates is not None:
            mine = " (your rates)" if self.pricing == "custom" else ""
            text += f" at {format_rate(self.rates[0])} in, {format_rate(self.rates[1])} out{mine}"
        return text


@dataclass(frozen=True)
class Estimate:
    """What the next request will cost at most, before it is sent.

    ``prompt_tokens``: the messages counted with :func:`count_tokens`; ``max_output_tokens``: the
    request's ``max_tokens`` (the worst case); ``context_window``: tokens (from the map, or the default
    given); ``window_known``: whether the map knew the window; ``cost``: the worst case (prompt +
    ``max_output_tokens``), estimated; ``input_usd``: the prompt's part of it, or None when unknown.
    """

    model: str
    prompt_tokens: int
    max_output_tokens: int
    context_window: int
    window_known: bool
    cost: Cost
    input_usd: float | None

    @property
    def worst_case_tokens(self) -> int:
        """Prompt tokens plus the whole ``max_tokens``: what a token budget must allow."""
        return self.prompt_tokens + self.max_output_tokens

    @property
    def fits(self) -> bool:
        """True when prompt + ``max_tokens`` fit in the context window."""
        return self.worst_case_tokens <= self.context_window


def tokens_per_second(output_tokens: int, ttft_s: float | None, duration_s: float) -> float | None:
    """Output tokens per second of streaming: ``output_tokens / (duration_s - ttft_s)`` (the time from the
    first token to the end), None when there is no such time (no text, or it all came at once)."""
    if ttft_s is None or output_tokens <= 0:
        return None
    streaming = duration_s - ttft_s
    return output_tokens / streaming if streaming > 0 else None


def format_usd(usd: float) -> str:
    """``$1,234.50``, ``$0.12``, ``$0.00066``: two decimals from a cent up, otherwise up to six decimals
    (so sub-cent costs stay visible)."""
    if usd == 0:
        return "$0.00"
    if abs(usd) >= 0.01:
        return f"${usd:,.2f}"
    text = f"{usd:.6f}".rstrip("0")
    return "$" + (text if len(text.split(".")[1]) >= 2 else f"{usd:.2f}")


def format_rate(usd_per_token: float) -> str:
    """A per-token rate as USD per million tokens, the way price lists show it: ``$0.15/M``, ``$30/M``."""
    per_million = usd_per_token * 1_000_000
    text = f"{per_million:,.4f}".rstrip("0").rstrip(".")
    return f"${text}/M"


def _in_static_map(litellm: Any, model: str) -> bool:
    """True when ``model`` is in the static map under one of the names ``cost_per_token`` tries."""
    try:
        bare, provider, _, _ = litellm.get_llm_provider(model=model)
    except Exception:  # noqa: BLE001 - LiteLLM raises BadRequestError for a model without provider
        return False
    names = {model, bare, f"{provider}/{bare}"}
    return any(name in litellm.model_cost for name in names)


def _asks_server(litellm: Any, model: str) -> bool:
    """True when LiteLLM would ask the provider's server for this model's info (Ollama, Lemonade):
    its provider config has a ``get_model_info`` method (``ProviderConfigManager.get_provider_model_info``)."""
    try:
        _, provider, _, _ = litellm.get_llm_provider(model=model)
        config = litellm.ProviderConfigManager.get_provider_model_info(
            model=model, provider=litellm.LlmProviders(provider)
        )
    except Exception:  # noqa: BLE001 - unknown provider names: no provider config, no server
        return False
    return callable(getattr(config, "get_model_info", None))


def lookup_model(model: str) -> ModelInfo | None:
    """The offline map's entry for ``model``, or None when the map does not have it.

    Uses ``litellm.get_model_info`` (raises ``ModelNotMappedError``/``BadRequestError`` for unknown
    models: caught here) and accepts only answers whose ``key`` is in ``litellm.model_cost``, so rates
    LiteLLM fills in for unmapped models are never taken for prices. Models whose info LiteLLM would
    fetch from a running server and that are not in the static map give None without any network call.
    Worker thread only (imports LiteLLM).
    """
    litellm = import_litellm()
    if _asks_server(litellm, model) and not _in_static_map(litellm, model):
        return None
    try:
        info = litellm.get_model_info(model=model)
    except Exception:  # noqa: BLE001 - "This model isn't mapped yet" and friends
        return None
    key = info.get("key")
    if not key or key not in litellm.model_cost:
        return None
    return ModelInfo(
        key=str(key),
        provider=str(info.get("litellm_provider") or ""),
        max_input_tokens=info.get("max_input_tokens") or info.get("max_tokens") or None,
        max_output_tokens=info.get("max_output_tokens") or None,
        rates=(float(info.get("input_cost_per_token") or 0.0), float(info.get("output_cost_per_token") or 0.0)),
    )


def context_window(model: str, default: int) -> int:
    """The model's context window in tokens: the map's ``max_input_tokens`` (else ``max_tokens``) from
    ``litellm.get_model_info``, or ``default`` (the user's preference) for models the map does not know.
    Example: ``openai/gpt-4-0613`` → 8192; ``ollama_chat/llama3.1`` → ``default``. Worker thread only.
    """
    info = lookup_model(model)
    if info is None or not info.max_input_tokens:
        return default
    return int(info.max_input_tokens)


def count_tokens(model: str, messages: Sequence[Message] | None = None, text: str | None = None) -> int:
    """Estimated tokens of ``messages`` (a chat request, including LiteLLM's per-message overhead) or of
    ``text`` (e.g. an answer), with ``litellm.token_counter``: tiktoken (the model's encoding, else
    ``cl100k_base``) for OpenAI-style, unknown and local models; LiteLLM's bundled tokenizer for old Claude
    names. LiteLLM would download a Hugging Face tokenizer for Llama 2/3 and Command R names; unless
    ``litellm.disable_hf_tokenizer_download`` was set by someone, this sets it to True first, so those
    are counted with tiktoken too (an estimate either way). Give exactly one of ``messages`` and
    ``text``; raises ``ValueError`` otherwise. Worker thread only.
    """
    if (messages is None) == (text is None):
        raise ValueError("count_tokens needs exactly one of messages or text")
    litellm: Any = import_litellm()  # Any: its settings are module attributes we assign
    if litellm.disable_hf_tokenizer_download is None:
        # Nobody chose: never fetch a tokenizer from huggingface.co (Llama, Command R names). Offline that
        # retries for ~20 s, and it contacts a remote host behind Blender's online-access setting.
        litellm.disable_hf_tokenizer_download = True
    if messages is not None:
        return int(litellm.token_counter(model=model, messages=[dict(m) for m in messages]))
    return int(litellm.token_counter(model=model, text=text))


def cost_for(
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    custom_rates: Rates | None = None,
    *,
    estimated: bool = False,
) -> Cost:
    """The cost of ``prompt_tokens`` + ``completion_tokens`` on ``model``.

    Models in LiteLLM's offline map: ``litellm.cost_per_token(model=..., prompt_tokens=...,
    completion_tokens=...)`` → USD (e.g. ``openai/gpt-4-0613``, 12 + 5 tokens → 12 × $30/M + 5 × $60/M =
    $0.00066); ``custom_rates`` are ignored. Models not in the map: ``custom_rates`` (USD per input
    token, USD per output token) applied through the same function's ``custom_cost_per_token``, or
    ``usd=None`` ("cost unknown") without them. ``estimated`` marks counts that did not come from the
    provider. Worker thread only.
    """
    source: TokenSource = "estimate" if estimated else "provider"
    info = lookup_model(model)
    litellm = import_litellm()
    if info is not None:
        prompt_usd, completion_usd = litellm.cost_per_token(
            model=model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
        )
        return Cost(
            prompt_tokens, completion_tokens, float(prompt_usd + completion_usd), info.rates, estimated, source, "map"
        )
    if custom_rates is not None:
        prompt_usd, completion_usd = litellm.cost_per_token(
            model=model,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            custom_cost_per_token={
                "input_cost_per_token": custom_rates[0],
                "output_cost_per_token": custom_rates[1],
            },
        )
        return Cost(
            prompt_tokens,
            completion_tokens,
            float(prompt_usd + completion_usd),
            (float(custom_rates[0]), float(custom_rates[1])),
            estimated,
            source,
            "custom",
        )
    return Cost(prompt_tokens, completion_tokens, None, None, estimated, source, "unknown")


def cost_of_answer(
    model: str,
    messages: Sequence[Message],
    answer: str,
    prompt_tokens: int | None = None,
    completion_tokens: int | None = None,
    custom_rates: Rates | None = None,
    gateway_usd: float | None = None,
) -> Cost:
    """The cost of a finished answer: the provider's usage when it reported one (``prompt_tokens`` and
    ``completion_tokens`` both given: ``source="provider"``), otherwise both counted with
    :func:`count_tokens` from ``messages`` and ``answer`` and marked estimated. ``gateway_usd``: the price a
    studio gateway reported for it (USD), recorded as is (``pricing="gateway"``) instead of the local
    estimate. Worker thread only.
    """
    if gateway_usd is not None and prompt_tokens is not None and completion_tokens is not None:
        return Cost(prompt_tokens, completion_tokens, gateway_usd, None, False, "provider", "gateway")
    if prompt_tokens is not None and completion_tokens is not None:
        return cost_for(model, prompt_tokens, completion_tokens, custom_rates)
    counted_prompt = count_tokens(model, messages=messages)
    counted_completion = count_tokens(model, text=answer) if answer else 0
    return cost_for(model, counted_prompt, counted_completion, custom_rates, estimated=True)


def estimate_request(
    model: str,
    messages: Sequence[Message],
    max_tokens: int,
    default_window: int,
    custom_rates: Rates | None = None,
) -> Estimate:
    """Count the request's prompt tokens, look up the context window, and price the worst case
    (prompt + the whole ``max_tokens``). Used for the panel's estimate and by the budget check before
    anything is sent. Worker thread only.
    """
    prompt_tokens = count_tokens(model, messages=messages)
    info = lookup_model(model)
    window = int(info.max_input_tokens) if info is not None and info.max_input_tokens else default_window
    worst = cost_for(model, prompt_tokens, max_tokens, custom_rates, estimated=True)
    input_usd = None
    if worst.usd is not None:
        input_usd = cost_for(model, prompt_tokens, 0, custom_rates, estimated=True).usd
    return Estimate(model, prompt_tokens, max_tokens, window, info is not None, worst, input_usd)


def estimate_key(
    model: str,
    messages: Sequence[Message],
    max_tokens: int,
    default_window: int,
    custom_rates: Rates | None = None,
) -> Hashable:
    """A hashable key for an estimate's inputs (messages as ``(role, content)`` pairs)."""
    pairs = tuple((str(m.get("role", "")), str(m.get("content", ""))) for m in messages)
    return (model, pairs, int(max_tokens), int(default_window), custom_rates)


class Estimator:
    """Runs :func:`estimate_request` (or any function) off the main thread and remembers the latest result per
    key, so a panel's ``draw`` can show an estimate without ever importing LiteLLM or waiting.

    ``get(key, fn)`` returns the finished result for ``key`` or None; on a miss it submits ``fn()`` to a
    one-thread :class:`concurrent.futures.ThreadPoolExecutor` (one estimate at a time: they are seconds of
    tokenizing at most, and a queue never grows a thread per key), unless that key is already queued or
    running. :meth:`estimate` does this for :func:`estimate_request` with :func:`estimate_key`. Only the most
    recent ``keep`` results are kept. An error raised by ``fn`` is kept as the key's message (:meth:`error`).
    ``thread_name``: the worker thread's name prefix (what a profiler or ``threading.enumerate()`` shows).
    Thread-safe.
    """

    def __init__(self, keep: int = 8, thread_name: str = "screenwriter-estimate") -> None:
        self._keep = keep
        self._thread_name = thread_name
        self._lock = threading.Lock()
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._futures: dict[Hashable, concurrent.futures.Future[Any]] = {}
        self._order: list[Hashable] = []

    def _submit(self, fn: Callable[[], Any]) -> concurrent.futures.Future[Any]:
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=self._thread_name)
        return self._pool.submit(fn)

    def get(self, key: Hashable, fn: Callable[[], Any]) -> Any | None:
        """The result for ``key`` if computed, else None (computation started in the background)."""
        with self._lock:
            self._evict()
            future = self._futures.get(key)
            if future is None:
                self._futures[key] = self._submit(fn)
                self._order.append(key)
                return None
        if not future.done() or future.exception() is not None:
            return None
        return future.result()

    def _evict(self) -> None:
        """Forget the oldest finished results beyond ``keep`` (running ones stay)."""
        done = [key for key in self._order if self._futures[key].done()]
        for key in done[: max(0, len(done) - self._keep)]:
            self._order.remove(key)
            del self._futures[key]

    def estimate(
        self,
        model: str,
        messages: Sequence[Message],
        max_tokens: int,
        default_window: int,
        custom_rates: Rates | None = None,
    ) -> Estimate | None:
        """:func:`estimate_request` for these arguments: the result if computed, else None (started)."""
        key = estimate_key(model, messages, max_tokens, default_window, custom_rates)
        frozen = tuple(dict(m) for m in messages)
        result = self.get(key, lambda: estimate_request(model, frozen, max_tokens, default_window, custom_rates))
        return result if isinstance(result, Estimate) else None

    def join(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds in all for queued and running computations (at quit: a thread frozen
        mid-import would deadlock Python's finalisation, see ``pump._on_exit``)."""
        with self._lock:
            pending = [future for future in self._futures.values() if not future.done()]
        concurrent.futures.wait(pending, timeout=timeout)

    def error(self, key: Hashable) -> str | None:
        """The error message of a failed computation for ``key``, or None."""
        with self._lock:
            future = self._futures.get(key)
        if future is None or not future.done() or future.exception() is None:
            return None
        exc = future.exception()
        return f"{type(exc).__name__}: {exc}"

    def wait(self, key: Hashable, timeout: float) -> bool:
        """Block up to ``timeout`` seconds for ``key``'s computation; True when it has ended (or none runs)."""
        with self._lock:
            future = self._futures.get(key)
        if future is None:
            return True
        concurrent.futures.wait([future], timeout=timeout)
        return future.done()
