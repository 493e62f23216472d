"""Budgets: optional daily and monthly limits in USD or tokens, checked before a request is sent.

Pure logic plus ledger queries (stdlib ``sqlite3`` through :class:`~.usage.UsageLedger`): no LiteLLM, no
``bpy``, safe on the main thread. The estimate it needs (:class:`~.cost.Cost` of the worst case: prompt
tokens + the whole ``max_tokens``) comes from :func:`.cost.estimate_request`, which runs on a worker thread.

Rules (issue 4, "Budgets"):

- Spent = what the ledger holds for the current local day / month (:func:`.usage.period_bounds`): the
  known costs in USD, or input + output tokens; rows answered from the cache count nothing.
- After = spent + this request's estimate. ``after > limit`` (or ``spent >= limit``) → **refused**, before
  anything is sent, with a message naming the limit and when it resets (local midnight; the 1st of next
  month at local midnight). ``after >= 90 %`` or ``>= 75 %`` of a limit → **warn**. Otherwise **allowed**.
  The most severe limit decides; among equals, the one closest to (or furthest over) its limit.
- A USD limit cannot judge a request whose cost is unknown (a model not in LiteLLM's map, no user rates):
  only what was already spent counts, and the message says the request's cost is unknown.
- Per-request confirmation: when the request alone could cost more than ``confirm_usd`` or use more than
  ``confirm_tokens``, the decision ``needs_confirmation`` (never for a refused request).
- A limit of None or ``<= 0`` is off (Blender number properties cannot be None: 0 means "no limit").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from .cost import Cost, format_usd
from .usage import Totals, period_bounds

Status = Literal["allowed", "warn", "refused"]
Unit = Literal["usd", "tokens"]
BudgetPeriod = Literal["day", "month"]

#: Fractions of a limit at which a warning is shown (issue 4: 75 % and 90 %).
WARN_AT = (0.75, 0.90)


class TotalsSource(Protocol):
    """What :func:`check` needs from a ledger: :meth:`.usage.UsageLedger.totals`."""

    def totals(self, start: datetime | None = None, end: datetime | None = None) -> Totals:
        """Totals of the rows with ``start <= time < end``."""
        ...


@dataclass(frozen=True)
class Limits:
    """The user's limits (preferences). USD amounts in US dollars, token amounts in tokens (input +
    output). ``confirm_usd``/``confirm_tokens``: ask before a single request that could exceed them."""

    daily_usd: float | None = None
    daily_tokens: int | None = None
    monthly_usd: float | None = None
    monthly_tokens: int | None = None
    confirm_usd: float | None = None
    confirm_tokens: int | None = None

    def active(self) -> list[tuple[BudgetPeriod, Unit, float]]:
        """The limits that are on, as ``(period, unit, amount)``."""
        candidates: list[tuple[BudgetPeriod, Unit, float | None]] = [
            ("day", "usd", self.daily_usd),
            ("day", "tokens", self.daily_tokens),
            ("month", "usd", self.monthly_usd),
            ("month", "tokens", self.monthly_tokens),
        ]
        return [(p, u, float(a)) for p, u, a in candidates if a is not None and a > 0]


def _amount(unit: Unit, value: float) -> str:
    return format_usd(value) if unit == "usd" else f"{round(value):,} tokens"


def _reset_text(period: BudgetPeriod, resets_at: datetime) -> str:
    when = f"{resets_at:%a} {resets_at.day} {resets_at:%b}"
    if period == "day":
        return f"at midnight (00:00 on {when})"
    return f"on the 1st of next month (00:00 on {when})"


@dataclass(frozen=True)
class LimitState:
    """One limit measured against the ledger and this request.

    ``amount``: the limit; ``spent``: this period's total so far; ``request``: this request's worst case
    in the same unit, None when its USD cost is unknown; ``resets_at``: the end of the period (aware
    datetime, local); all amounts in ``unit`` (USD or tokens).
    """

    period: BudgetPeriod
    unit: Unit
    amount: float
    spent: float
    request: float | None
    resets_at: datetime

    @property
    def after(self) -> float:
        """Spent plus this request (unknown counts as nothing)."""
        return self.spent + (self.request or 0.0)

    @property
    def fraction(self) -> float:
        """``after / amount``: 1.0 is the limit."""
        return self.after / self.amount

    @property
    def refused(self) -> bool:
        """True when this request would go over the limit, or the limit is already used up."""
        return self.after > self.amount or self.spent >= self.amount

    @property
    def name(self) -> str:
        """``"daily budget of $1.00"``, ``"monthly token budget of 200,000 tokens"``."""
        period = "daily" if self.period == "day" else "monthly"
        kind = " token" if self.unit == "tokens" else ""
        return f"{period}{kind} budget of {_amount(self.unit, self.amount)}"

    def message(self) -> str:
        """A sentence for the status line or an operator report, e.g. ``"Refused: this request would go
        over your daily budget of $1.00 — $0.96 spent today, this request up to $0.05. It resets at
        midnight (00:00 on Thu 13 Mar). ..."`` or ``"84 % of your daily budget of $1.20 used today,
        counting up to $0.05 for this request; it resets at midnight (00:00 on Thu 13 Mar)."``"""
        scope = "today" if self.period == "day" else "this month"
        spent = _amount(self.unit, self.spent)
        resets = _reset_text(self.period, self.resets_at)
        unknown = "this request's cost is unknown: the model is not in LiteLLM's price list"
        if self.refused:
            if self.spent >= self.amount:
                head = f"Refused: your {self.name} is used up — {spent} spent {scope}"
            else:
                head = f"Refused: this request would go over your {self.name} — {spent} spent {scope}"
            if self.request is None:
                head += f"; {unknown}"
            elif self.spent < self.amount:
                head += f", this request up to {_amount(self.unit, self.request)}"
            return f"{head}. It resets {resets}. Change it in the add-on preferences (Budgets)."
        percent = int(self.fraction * 100)
        if self.request is None:
            counting = f" ({unknown})"
        else:
            counting = f", counting up to {_amount(self.unit, self.request)} for this request"
        return f"{percent} % of your {self.name} used {scope}{counting}; it resets {resets}."


@dataclass(frozen=True)
class Decision:
    """The verdict for one request.

    ``status``: ``allowed``/``warn``/``refused``; ``message``: what to show ("" when allowed without
    anything to say); ``limit``: the limit that decided (None when none applies); ``states``: every active
    limit; ``needs_confirmation`` and ``confirmation``: the per-request threshold and its question.
    """

    status: Status
    message: str
    limit: LimitState | None
    states: tuple[LimitState, ...]
    needs_confirmation: bool = False
    confirmation: str = ""

    @property
    def allowed(self) -> bool:
        """True unless refused (a warning still sends)."""
        return self.status != "refused"


def _severity(state: LimitState) -> tuple[int, float]:
    if state.refused:
        level = 3
    elif state.fraction >= WARN_AT[1]:
        level = 2
    elif state.fraction >= WARN_AT[0]:
        level = 1
    else:
        level = 0
    return level, state.fraction


def check(ledger: TotalsSource, limits: Limits, estimate: Cost, now: datetime | None = None) -> Decision:
    """Decide whether the next request may be sent.

    ``estimate``: the request's worst case (``Estimate.cost`` from :func:`.cost.estimate_request`: tokens =
    prompt + ``max_tokens``; ``usd`` None when unknown). ``now``: when (naive or None = system local
    time; aware = its own timezone), which fixes the local day and month (:func:`.usage.period_bounds`).
    Queries the ledger once per period. Raises :class:`.usage.LedgerError` when the ledger cannot be read.
    """
    states: list[LimitState] = []
    totals_of: dict[BudgetPeriod, tuple[Totals, datetime]] = {}
    for period, unit, amount in limits.active():
        if period not in totals_of:
            start, end = period_bounds(period, now)
            totals_of[period] = (ledger.totals(start, end), end)
        totals, resets_at = totals_of[period]
        if unit == "usd":
            spent, request = totals.cost_usd, estimate.usd
        else:
            spent, request = float(totals.total_tokens), float(estimate.total_tokens)
        states.append(LimitState(period, unit, amount, spent, request, resets_at))

    deciding = max(states, key=_severity) if states else None
    level = _severity(deciding)[0] if deciding is not None else 0
    status: Status = "refused" if level == 3 else "warn" if level else "allowed"
    message = deciding.message() if deciding is not None and level else ""

    questions = []
    if status != "refused":
        if limits.confirm_usd and limits.confirm_usd > 0 and estimate.usd is not None:
            if estimate.usd > limits.confirm_usd:
                questions.append(
                    f"may cost up to {format_usd(estimate.usd)}, more than your confirmation threshold "
                    f"of {format_usd(limits.confirm_usd)}"
                )
        if limits.confirm_tokens and limits.confirm_tokens > 0 and estimate.total_tokens > limits.confirm_tokens:
            questions.append(
                f"may use up to {estimate.total_tokens:,} tokens, more than your confirmation threshold "
                f"of {limits.confirm_tokens:,} tokens"
            )
    confirmation = ("This request " + " and ".join(questions) + ". Send it?") if questions else ""
    return Decision(status, message, deciding if level else None, tuple(states), bool(questions), confirmation)
