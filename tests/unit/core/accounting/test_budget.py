"""core.budget against a real SQLite ledger: allowed / warned / refused before sending, which limit and
when it resets, and the per-request confirmation."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from screenwriter_llm.core.accounting import budget
from screenwriter_llm.core.accounting.cost import Cost, format_usd
from screenwriter_llm.core.accounting.usage import UsageLedger, UsageRecord

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2025, 3, 12, 10, 0, tzinfo=BERLIN)  # a Wednesday


def estimate(usd: float | None, tokens: int = 1000) -> Cost:
    return Cost(tokens - 200, 200, usd, None if usd is None else (1e-6, 2e-6), True, "estimate", "map")


@pytest.fixture
def ledger(tmp_path):
    return UsageLedger(tmp_path / "usage.sqlite3")


def spend(ledger: UsageLedger, usd: float | None, when: datetime = NOW - timedelta(hours=1), tokens: int = 100, **kw):
    ledger.record(
        UsageRecord(
            model=kw.pop("model", "openai/gpt-4o-mini"),
            outcome=kw.pop("outcome", "finished"),
            input_tokens=tokens,
            output_tokens=0,
            cost_usd=usd,
            time=when,
        )
    )


def test_no_limits_allow_everything_silently(ledger):
    spend(ledger, 1000.0)
    decision = budget.check(ledger, budget.Limits(), estimate(5.0), NOW)
    assert decision.allowed and decision.status == "allowed" and decision.message == "" and decision.states == ()


def test_zero_means_no_limit(ledger):
    spend(ledger, 1000.0)
    decision = budget.check(ledger, budget.Limits(daily_usd=0, monthly_tokens=0, confirm_usd=0), estimate(5.0), NOW)
    assert decision.status == "allowed" and not decision.needs_confirmation


@pytest.mark.parametrize(("spent", "status"), [(0.50, "allowed"), (0.72, "warn"), (0.88, "warn"), (0.96, "refused")])
def test_daily_usd_limit_levels(ledger, spent, status):
    limit, request = 1.00, 0.05
    spend(ledger, spent)
    decision = budget.check(ledger, budget.Limits(daily_usd=limit), estimate(request), NOW)
    assert decision.status == status
    assert decision.allowed == (status != "refused")
    state = decision.states[0]
    assert state.spent == pytest.approx(spent) and state.request == pytest.approx(request)
    if status == "warn":
        assert decision.message.startswith(
            f"{int((spent + request) / limit * 100)} % of your daily budget of $1.00 used today, "
            f"counting up to {format_usd(request)} for this request"
        )
        assert "resets at midnight (00:00 on Thu 13 Mar)" in decision.message
    if status == "refused":
        assert decision.message.startswith("Refused: this request would go over your daily budget of $1.00")
        assert f"{format_usd(spent)} spent today, this request up to {format_usd(request)}" in decision.message
        assert "resets at midnight (00:00 on Thu 13 Mar)" in decision.message


def test_a_used_up_budget_refuses_even_a_tiny_request(ledger):
    spend(ledger, 2.0)
    decision = budget.check(ledger, budget.Limits(daily_usd=2.0), estimate(0.0), NOW)
    assert decision.status == "refused"
    assert decision.message.startswith("Refused: your daily budget of $2.00 is used up — $2.00 spent today.")


def test_yesterday_counts_for_the_month_not_the_day(ledger):
    spend(ledger, 0.90, when=datetime(2025, 3, 11, 23, 59, tzinfo=BERLIN))
    daily = budget.check(ledger, budget.Limits(daily_usd=1.0), estimate(0.05), NOW)
    monthly = budget.check(ledger, budget.Limits(monthly_usd=0.9), estimate(0.05), NOW)
    assert daily.status == "allowed"
    assert monthly.status == "refused"
    assert "monthly budget of $0.90" in monthly.message
    assert "on the 1st of next month (00:00 on Tue 1 Apr)" in monthly.message


def test_monthly_token_limit_counts_input_and_output_tokens(ledger):
    spend(ledger, 0.01, tokens=9000, when=datetime(2025, 3, 1, 0, 30, tzinfo=BERLIN))
    spend(ledger, 0.01, tokens=5000, when=datetime(2025, 2, 28, 23, 0, tzinfo=BERLIN))  # last month
    request = estimate(0.01, tokens=1500)
    decision = budget.check(ledger, budget.Limits(monthly_tokens=10_000), request, NOW)
    assert decision.status == "refused"
    assert decision.limit is not None and (decision.limit.spent, decision.limit.request) == (9000, 1500)
    assert "would go over your monthly token budget of 10,000 tokens" in decision.message
    assert "9,000 tokens spent this month, this request up to 1,500 tokens" in decision.message
    smaller = budget.check(ledger, budget.Limits(monthly_tokens=10_000), estimate(0.01, tokens=900), NOW)
    assert smaller.status == "warn" and smaller.message.startswith("99 % of your monthly token budget")


def test_the_most_severe_limit_decides(ledger):
    spend(ledger, 0.80)
    limits = budget.Limits(daily_usd=1.0, monthly_usd=0.82)
    decision = budget.check(ledger, limits, estimate(0.05), NOW)
    assert decision.status == "refused" and decision.limit.period == "month"
    assert len(decision.states) == 2


def test_cached_answers_do_not_use_the_budget(ledger):
    spend(ledger, 0.0, tokens=50_000, outcome="cached")
    decision = budget.check(ledger, budget.Limits(daily_tokens=10_000), estimate(0.0, tokens=1000), NOW)
    assert decision.status == "allowed" and decision.states[0].spent == 0


def test_unknown_request_cost_against_a_usd_limit(ledger):
    spend(ledger, 0.80)
    decision = budget.check(ledger, budget.Limits(daily_usd=1.0), estimate(None), NOW)
    assert decision.status == "warn" and "cost is unknown" in decision.message
    spend(ledger, 0.20)
    assert budget.check(ledger, budget.Limits(daily_usd=1.0), estimate(None), NOW).status == "refused"


def test_a_large_single_request_needs_confirmation(ledger):
    limits = budget.Limits(confirm_usd=0.10, confirm_tokens=50_000)
    cheap = budget.check(ledger, limits, estimate(0.02, tokens=4000), NOW)
    assert cheap.status == "allowed" and not cheap.needs_confirmation and cheap.confirmation == ""
    dear = budget.check(ledger, limits, estimate(0.25, tokens=4000), NOW)
    assert dear.status == "allowed" and dear.needs_confirmation
    assert "may cost up to $0.25, more than your confirmation threshold of $0.10" in dear.confirmation
    long = budget.check(ledger, limits, estimate(0.02, tokens=60_000), NOW)
    assert long.needs_confirmation
    assert "may use up to 60,000 tokens, more than your confirmation threshold of 50,000 tokens" in long.confirmation
    unknown = budget.check(ledger, budget.Limits(confirm_usd=0.10), estimate(None), NOW)
    assert not unknown.needs_confirmation


def test_a_refused_request_is_not_offered_for_confirmation(ledger):
    spend(ledger, 0.99)
    decision = budget.check(ledger, budget.Limits(daily_usd=1.0, confirm_usd=0.01), estimate(0.25), NOW)
    assert decision.status == "refused" and not decision.needs_confirmation


def test_usd_and_token_limits_of_one_period_read_the_ledger_once(ledger):
    spend(ledger, 0.30, tokens=4_000)
    queries = []

    class Counting:
        def totals(self, start, end):
            queries.append((start, end))
            return ledger.totals(start, end)

    limits = budget.Limits(daily_usd=1.0, daily_tokens=5_000)
    decision = budget.check(Counting(), limits, estimate(0.05, tokens=1_200), NOW)

    assert len(queries) == 1  # one query per period, shared by its two limits
    assert [(s.period, s.unit) for s in decision.states] == [("day", "usd"), ("day", "tokens")]
    assert decision.states[0].spent == pytest.approx(0.30) and decision.states[1].spent == 4_000
    assert decision.states[0].resets_at == decision.states[1].resets_at
    assert decision.status == "refused" and decision.limit.unit == "tokens"  # 4,000 + 1,200 tokens > 5,000
