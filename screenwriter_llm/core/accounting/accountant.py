"""The accountant of one job, on its worker thread: the response cache, the budget check before sending, and
the price and ledger row after the answer.

Pure Python (no bpy). LiteLLM is reached only through :mod:`.cost` (token counting, the offline cost map),
which imports it lazily; every method here runs on the job's worker thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from ..events import Failed, Finished, JobEvent, Notice, Outcome, Priced, TextDelta, Usage
from ..provider import errors
from ..provider.llm import LLMRequest
from .budget import Limits
from .cost import Cost

#: Context window assumed for models LiteLLM does not know (tokens); the one default of the add-on, also
#: the preference's default (Default Context Window).
DEFAULT_CONTEXT_WINDOW = 8192


@dataclass(frozen=True)
class Accounting:
    """How a job accounts for itself.

    ``operator``/``script``/``task`` label the ledger row; ``ledger_path``: the SQLite usage ledger (None:
    no ledger); ``cache_path``: the opt-in response cache (None: off); ``limits``: budgets checked before
    sending; ``custom_rates``: (USD per input token, USD per output token) for models not in LiteLLM's map;
    ``default_window``: tokens, for models LiteLLM does not know; ``price``: price the answer even without
    a ledger (False for LiteLLM's mock answers, which cost nothing).
    """

    operator: str = ""
    script: str = ""
    ledger_path: str | None = None
    cache_path: str | None = None
    limits: Limits | None = None
    custom_rates: tuple[float, float] | None = None
    default_window: int = DEFAULT_CONTEXT_WINDOW
    price: bool = False


@dataclass(frozen=True)
class CachedReply:
    """An answer served from the response cache: its text, usage and cost (``Cost.cached``: $0)."""

    text: str
    usage: Usage
    cost: Cost


class Accountant:
    """Cache, budget and ledger for one job. ``put`` queues an event for the main thread (a notice, the
    price). Never raises out of :meth:`account`: accounting must not cost the user their answer."""

    def __init__(self, accounting: Accounting, put: Callable[[JobEvent], None]) -> None:
        self.accounting = accounting
        self._put = put
        self._cache_key: str | None = None
        #: True once the budget refused the request: nothing was sent, so nothing is priced or recorded.
        self.refused = False

    # --- before sending --------------------------------------------------------------------------

    def from_cache(self, request: LLMRequest) -> CachedReply | None:
        """The cached answer of ``request`` (opt-in; temperature 0 only), or None.

        A cache that cannot be read (corrupt file, not a database) never fails the request: it is bypassed
        with a notice, moved aside and rebuilt on the next answer.
        """
        acc = self.accounting
        if not acc.cache_path or request.mock_response is not None:
            return None
        from .cache import CacheError, ResponseCache, request_key

        self._cache_key = request_key(
            request.model, list(request.messages), request.temperature, request.max_tokens, request.api_base
        )
        if self._cache_key is None:
            return None
        try:
            hit = ResponseCache(acc.cache_path).get(self._cache_key)
        except (CacheError, OSError) as exc:
            self._rebuild_cache(exc)
            return None
        if hit is None:
            return None
        usage = Usage(hit.prompt_tokens or 0, hit.completion_tokens or 0)
        return CachedReply(hit.text, usage, Cost.cached(hit.prompt_tokens, hit.completion_tokens))

    def _rebuild_cache(self, exc: BaseException) -> None:
        """Move an unreadable cache file aside (``<name>.corrupt``) so the next answer starts a new one."""
        import os

        path = self.accounting.cache_path
        assert path is not None
        moved = ""
        try:
            os.replace(path, path + ".corrupt")
            moved = f" It was moved to {os.path.basename(path)}.corrupt and a new cache starts with this answer."
        except OSError:
            moved = ""
        self._put(
            Notice(f"The response cache could not be read ({errors.cause_summary(exc)}); it was bypassed.{moved}")
        )

    def refusal(self, request: LLMRequest) -> Failed | None:
        """Refuse before sending when the estimate would take a budget over its limit; warn (a notice) at
        75/90 %. None: go ahead."""
        acc = self.accounting
        if acc.limits is None or not acc.limits.active() or not acc.ledger_path:
            return None
        from . import budget, cost
        from .usage import UsageLedger

        estimate = cost.estimate_request(
            request.model, request.messages, request.max_tokens, acc.default_window, acc.custom_rates
        )
        decision = budget.check(UsageLedger(acc.ledger_path), acc.limits, estimate.cost)
        if decision.status == "refused":
            self.refused = True
            return Failed(decision.message, "budget")
        if decision.message:
            self._put(Notice(decision.message))
        return None

    # --- after the answer ------------------------------------------------------------------------

    def account(
        self,
        final: Outcome,
        request: LLMRequest,
        answer: str,
        usage: Usage | None,
        cost: Cost | None,
        started_at: float,
        first_text_at: float | None,
    ) -> None:
        """Price the answer (the provider's usage, else counted and marked estimated; ``cost`` when already
        known, as for a cached answer), queue it as :class:`~..events.Priced`, write the ledger row and, for
        a finished answer, the cache entry."""
        acc = self.accounting
        if not acc.ledger_path and not acc.cache_path and not acc.price:
            return
        if self.refused:
            return
        from . import cost as costs
        from .usage import UsageLedger, UsageRecord

        try:
            if cost is None:
                reported = usage if usage and not usage.estimated else None
                cost = costs.cost_of_answer(
                    request.model,
                    request.messages,
                    answer,
                    reported.prompt_tokens if reported else None,
                    reported.completion_tokens if reported else None,
                    acc.custom_rates,
                    reported.cost_usd if reported else None,
                )
            self._put(Priced(cost))
            outcome = "finished" if isinstance(final, Finished) else type(final).__name__.lower()
            if cost.pricing == "cached":
                outcome = "cached"
            if acc.ledger_path:
                UsageLedger(acc.ledger_path).record(
                    UsageRecord.from_cost(
                        cost,
                        model=request.model,
                        outcome=outcome,
                        operator=acc.operator,
                        script=acc.script,
                        ttft_s=None if first_text_at is None else first_text_at - started_at,
                        duration_s=time.monotonic() - started_at,
                    )
                )
            if acc.cache_path and self._cache_key and outcome == "finished" and answer:
                from .cache import ResponseCache

                ResponseCache(acc.cache_path).put(
                    self._cache_key, answer, request.model, cost.input_tokens, cost.output_tokens
                )
        except Exception as exc:  # noqa: BLE001 - see the docstring
            self._put(Notice(f"Usage could not be recorded: {errors.cause_summary(exc)}"))


def cached_events(reply: CachedReply) -> tuple[JobEvent, ...]:
    """The events a cached answer is shown with: its text and its usage."""
    return (TextDelta(reply.text), reply.usage)
