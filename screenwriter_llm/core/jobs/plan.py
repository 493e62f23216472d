"""One request path: every model request is planned here, from a settings snapshot, a task and its messages.

An analysis, a chat turn, a summary, a connection probe, a coverage scene and every task to come go through
:func:`plan_request`. It applies the task's request overrides (its ``[request]`` table: temperature, Max
Tokens, retries, fallbacks, cache), checks each model against the network gate and its key, and returns a
:class:`Plan`: the models to try in order, the deadlines, the retry policy and the accounting. A
:class:`~.job.Job` runs a plan; nothing patches a job after it is built, and there is no mode flag.

Pure Python: the settings arrive as plain data (:class:`RequestSettings`, read once on the main thread by
the bpy layer's ``settings.from_context``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ..accounting.accountant import DEFAULT_CONTEXT_WINDOW, Accounting
from ..accounting.budget import Limits
from ..provider import gateway, netgate
from ..provider.llm import LLMRequest
from ..provider.retry import RetryPolicy
from ..tasks.task import RequestOverrides

#: A context planner, run on the worker for each model tried: fits the request to that model's window and
#: returns it with a one-line report of what was sent. Raises ``ContextTooLarge``.
Prepare = Callable[[LLMRequest], tuple[LLMRequest, str]]


class PlanError(Exception):
    """A request cannot be planned; the message says why and what to do (nothing was sent)."""


@dataclass(frozen=True)
class Deadlines:
    """Deadlines the job owns, in seconds (LiteLLM's ``timeout`` is per read, not a deadline).

    ``first_token``: from the start of an attempt to its first text (preference, default 30);
    ``stall``: the longest silence between chunks once text flows; ``total``: the whole job.
    LiteLLM's per-read timeout is set to the smaller of the first two, so a connection on which the
    provider never answers is abandoned in time even before any response object exists.
    """

    first_token: float = 30.0
    stall: float = 30.0
    total: float = 600.0

    @property
    def read_timeout(self) -> float:
        """The per-read timeout passed to LiteLLM (seconds)."""
        return min(self.first_token, self.stall)


@dataclass(frozen=True)
class RequestSettings:
    """Everything a request needs from Blender, read once on the main thread, as plain data.

    ``model``/``fallbacks``: LiteLLM model strings, tried in order; ``temperature`` 0-2; ``max_tokens``: the
    completion-token cap; ``api_base``: a custom endpoint or None; ``online``: Blender's *Allow Online
    Access*; ``keys``: the key resolved for each model (None: let LiteLLM use the provider's other
    credentials); ``key_errors``: for models that need a key and have none, the message saying so;
    ``ledger_path``/``cache_path``: the usage ledger and the opt-in response cache (None: off);
    ``mock_response``: LiteLLM answers with this text without any network call (the offline demo).
    ``artist``: who asks, told to a studio gateway as the request's ``user`` (the Artist preference);
    ``attribute_title``: tag gateway requests with the script (the source Text's name) too, which the writer opts
    into (Send Script Title);
    ``listed_models``: the models the endpoint listed at the last Refresh Models (None: never listed), to flag a
    model it does not offer before sending. Keys are never shown in ``repr``.
    """

    model: str
    fallbacks: tuple[str, ...] = ()
    temperature: float = 0.7
    max_tokens: int = 2048
    stream: bool = True
    api_base: str | None = None
    online: bool = True
    keys: Mapping[str, str | None] = field(default_factory=dict, repr=False)
    key_errors: Mapping[str, str] = field(default_factory=dict)
    deadlines: Deadlines = field(default_factory=Deadlines)
    max_retries: int = 5
    ledger_path: str | None = None
    cache_path: str | None = None
    limits: Limits | None = None
    custom_rates: tuple[float, float] | None = None
    default_window: int = DEFAULT_CONTEXT_WINDOW
    mock_response: str = ""
    artist: str = ""
    attribute_title: bool = False
    listed_models: tuple[str, ...] | None = None

    def as_stored(self) -> dict[str, Any]:
        """The settings Regenerate needs to run a request again (no key, no path)."""
        return {
            "model": self.model,
            "fallbacks": list(self.fallbacks),
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "stream": self.stream,
        }


@dataclass(frozen=True)
class Plan:
    """A planned request: ``requests`` (the model first, then its fallbacks, each a complete
    :class:`LLMRequest`), the retry ``policy``, the ``deadlines``, the ``accounting``, an optional context
    planner ``prepare`` (chat), and who it is for: ``task`` (the task id), ``label`` (the source Text, where
    the status shows), ``target`` (the output Text, '' when the answer goes nowhere: the probe)."""

    requests: tuple[LLMRequest, ...]
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    deadlines: Deadlines = field(default_factory=Deadlines)
    accounting: Accounting = field(default_factory=Accounting)
    prepare: Prepare | None = field(default=None, repr=False)
    task: str = ""
    label: str = ""
    target: str = ""

    @classmethod
    def for_request(cls, request: LLMRequest, **fields: Any) -> Plan:
        """A plan of one request with default policy, deadlines and no accounting (tests, benchmarks)."""
        return cls(requests=(request,), **fields)

    @property
    def request(self) -> LLMRequest:
        """The first model's request."""
        return self.requests[0]

    @property
    def fallbacks(self) -> tuple[LLMRequest, ...]:
        """The fallback models' requests, in order."""
        return self.requests[1:]


def plan_request(
    settings: RequestSettings,
    messages: tuple[dict[str, str], ...],
    *,
    overrides: RequestOverrides | None = None,
    task: str = "",
    operator: str = "",
    label: str = "",
    target: str = "",
    prepare: Prepare | None = None,
) -> tuple[Plan, list[str]]:
    """Plan one request: the one function every model request is built by.

    Args:
        settings: The snapshot read once on the main thread.
        messages: The chat messages (a task's rendered templates, plus a conversation for chat).
        overrides: The task's ``[request]`` table (:class:`~..tasks.task.RequestOverrides`).
        task: The task id (ledger, stored request). operator: the operator id for the ledger.
        label: The source Text (where the status shows). target: The output Text ('' for none).
        prepare: A context planner run on the worker for each model (chat).

    Returns:
        ``(plan, warnings)``: warnings name fallback models that had to be skipped (no key, offline).

    Raises:
        PlanError: No model; a temperature or Max Tokens that is not a number in range; online access off
            for a remote model; no key for a provider that needs one (for the model itself; a fallback
            without one is skipped with a warning).
    """
    overrides = overrides or RequestOverrides()
    model = settings.model.strip()
    if not model:
        raise PlanError("Set a model in the Screenwriter sidebar (for example openai/gpt-4o-mini).")
    temperature = settings.temperature if overrides.temperature is None else overrides.temperature
    max_tokens = settings.max_tokens if overrides.max_tokens is None else overrides.max_tokens
    if not isinstance(temperature, (int, float)) or not math.isfinite(temperature) or not 0 <= temperature <= 2:
        raise PlanError(
            f"The temperature is {temperature!r}; it must be a number from 0 to 2. Set it in the Screenwriter "
            "sidebar (or scene.screenwriter.temperature from Python)."
        )
    if not isinstance(max_tokens, int) or max_tokens < 1:
        raise PlanError(f"Max Tokens is {max_tokens!r}; it must be a whole number of at least 1.")
    offline_mock = bool(settings.mock_response)
    models = (model, *settings.fallbacks) if overrides.fallbacks else (model,)
    requests: list[LLMRequest] = []
    warnings: list[str] = []
    for candidate in dict.fromkeys(m.strip() for m in models if m.strip()):
        try:
            try:
                netgate.check_online_access(candidate, settings.api_base, settings.online, offline_mock)
            except netgate.OnlineAccessDisabled as exc:
                raise PlanError(str(exc)) from exc
            if not offline_mock and candidate in settings.key_errors:
                raise PlanError(settings.key_errors[candidate])
        except PlanError as exc:
            if not requests:
                raise
            warnings.append(f"Fallback {candidate} skipped: {exc}")
            continue
        user, tags = (
            gateway.attribution(settings.artist, task or operator, label if settings.attribute_title else "")
            if gateway.is_gateway(candidate)
            else (None, ())
        )
        unlisted = unlisted_warning(candidate, settings.listed_models)
        if unlisted and not offline_mock:
            warnings.append(unlisted)
        requests.append(
            LLMRequest(
                model=candidate,
                messages=messages,
                temperature=float(temperature),
                max_tokens=max_tokens,
                stream=settings.stream,
                api_base=settings.api_base,
                api_key=None if offline_mock else settings.keys.get(candidate),
                mock_response=settings.mock_response or None,
                user=user,
                tags=tags,
            )
        )
    retries = settings.max_retries if overrides.max_retries is None else overrides.max_retries
    accounting = Accounting(
        operator=operator,
        script=label,
        ledger_path=None if offline_mock else settings.ledger_path,
        cache_path=settings.cache_path if overrides.cache else None,
        limits=settings.limits,
        custom_rates=settings.custom_rates,
        default_window=settings.default_window,
        price=not offline_mock,
    )
    plan = Plan(
        requests=tuple(requests),
        policy=RetryPolicy(max_retries=retries),
        deadlines=settings.deadlines,
        accounting=accounting,
        prepare=prepare,
        task=task,
        label=label,
        target=target,
    )
    return plan, warnings


def unlisted_warning(model: str, listed: tuple[str, ...] | None) -> str:
    """The warning for a ``model`` its endpoint did not list at the last Refresh Models, or '' (listed, or never
    listed). Compared by the name the endpoint uses (``litellm_proxy/studio-writer`` -> ``studio-writer``,
    ``ollama_chat/llama3.1`` -> ``llama3.1`` or ``llama3.1:latest``)."""
    if listed is None:
        return ""
    name = gateway.alias(model)
    bare = name.split("/", 1)[1] if "/" in name and not gateway.is_gateway(model) else name
    offered = set(listed)
    if {name, bare, bare + ":latest", model.strip()} & offered:
        return ""
    return (
        f"'{bare}' is not among the {len(listed)} models the endpoint listed at the last Refresh Models; sending "
        "it anyway (the list may be out of date). Check the model name, or choose one it offers."
    )


def with_target(plan: Plan, target: str) -> Plan:
    """The same plan writing into ``target`` (the output Text's final name)."""
    return replace(plan, target=target)
