"""core.accounting.accountant on real SQLite files and LiteLLM's offline cost map: the response cache before
sending (and a corrupt one moved aside), the budget refusal and warnings, and the price, ledger row and cache
entry after the answer. Nothing is sent anywhere: the accountant never calls a provider."""

from __future__ import annotations

import sqlite3
import time

import pytest

from screenwriter_llm.core.accounting.accountant import Accountant, Accounting, CachedReply, cached_events
from screenwriter_llm.core.accounting.budget import Limits
from screenwriter_llm.core.accounting.cache import ResponseCache, request_key
from screenwriter_llm.core.accounting.cost import Cost
from screenwriter_llm.core.accounting.usage import UsageLedger
from screenwriter_llm.core.events import Cancelled, Failed, Finished, Notice, Priced, TextDelta, Usage
from screenwriter_llm.core.provider.llm import LLMRequest

MODEL = "openai/gpt-4o-mini"
MESSAGES = (
    {"role": "system", "content": "You are a script consultant."},
    {"role": "user", "content": "Analyse: INT. FERRY - NIGHT. Ellen stares at the water."},
)
ANSWER = "The scene turns on Ellen's silence."


def request(**fields) -> LLMRequest:
    return LLMRequest(**{"model": MODEL, "messages": MESSAGES, "temperature": 0.0, "max_tokens": 256, **fields})


def key_of(req: LLMRequest) -> str | None:
    return request_key(req.model, list(req.messages), req.temperature, req.max_tokens, req.api_base)


def ledger_rows(path: str) -> list[sqlite3.Row]:
    with sqlite3.connect(path) as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute("SELECT * FROM requests ORDER BY id").fetchall()


class Events(list):
    """What the accountant queued for the main thread."""

    def notices(self) -> list[str]:
        return [event.text for event in self if isinstance(event, Notice)]

    def prices(self) -> list[Cost]:
        return [event.cost for event in self if isinstance(event, Priced)]


@pytest.fixture
def events() -> Events:
    return Events()


def accountant(events: Events, **fields) -> Accountant:
    return Accountant(Accounting(**fields), events.append)


def test_no_cache_no_ledger_and_no_pricing_does_nothing(events):
    acc = accountant(events)
    assert acc.from_cache(request()) is None
    assert acc.refusal(request()) is None
    acc.account(Finished("stop", MODEL), request(), ANSWER, Usage(10, 5), None, time.monotonic(), None)
    assert events == []


def test_a_finished_answer_is_priced_recorded_and_cached_then_served_from_the_cache(tmp_path, events):
    ledger, cache = str(tmp_path / "usage.sqlite3"), str(tmp_path / "responses.sqlite3")
    acc = accountant(events, ledger_path=ledger, cache_path=cache, operator="screenwriter.analyze_scene", script="s")
    req = request()
    started = time.monotonic() - 2.0

    assert acc.from_cache(req) is None  # a miss: nothing stored yet
    acc.account(Finished("stop", MODEL), req, ANSWER, Usage(120, 30), None, started, started + 0.5)

    (price,) = events.prices()
    assert (price.input_tokens, price.output_tokens, price.source, price.pricing) == (120, 30, "provider", "map")
    assert price.usd is not None and price.usd > 0
    totals = UsageLedger(ledger).totals()
    assert (totals.requests, totals.input_tokens, totals.output_tokens) == (1, 120, 30)
    assert totals.cost_usd == pytest.approx(price.usd)
    (row,) = ledger_rows(ledger)
    assert (row["operator"], row["script"], row["outcome"]) == ("screenwriter.analyze_scene", "s", "finished")
    assert row["ttft_s"] == pytest.approx(0.5) and row["duration_s"] >= 2.0
    assert ResponseCache(cache).get(key_of(req)).text == ANSWER

    again = accountant(Events(), ledger_path=ledger, cache_path=cache)
    hit = again.from_cache(req)
    assert hit == CachedReply(ANSWER, Usage(120, 30), Cost.cached(120, 30))
    assert cached_events(hit) == (TextDelta(ANSWER), Usage(120, 30))
    again.account(Finished("stop", MODEL), req, hit.text, hit.usage, hit.cost, time.monotonic(), None)
    outcomes = [r["outcome"] for r in ledger_rows(ledger)]
    assert sorted(outcomes) == ["cached", "finished"]
    assert UsageLedger(ledger).totals().cost_usd == pytest.approx(price.usd)  # the cached answer cost nothing


def test_requests_the_cache_does_not_take(tmp_path, events):
    cache = str(tmp_path / "responses.sqlite3")
    acc = accountant(events, cache_path=cache)
    assert acc.from_cache(request(temperature=0.7)) is None  # only temperature 0 is cached
    assert acc.from_cache(request(mock_response="offline demo")) is None  # the mock answer is never cached

    warm = accountant(events, cache_path=cache)
    warm.from_cache(request(temperature=0.7))
    warm.account(Finished("stop", MODEL), request(temperature=0.7), ANSWER, Usage(1, 1), None, time.monotonic(), None)
    cold = accountant(events, cache_path=cache)
    cold.from_cache(request())
    cold.account(Cancelled("user"), request(), "half an ans", Usage(1, 1), None, time.monotonic(), None)
    assert ResponseCache(cache).stats() == (0, 0)  # neither an uncacheable request nor a cancelled answer
    assert events.notices() == []


def test_a_corrupt_cache_is_bypassed_with_a_notice_and_moved_aside(tmp_path, events):
    cache = tmp_path / "responses.sqlite3"
    cache.write_bytes(b"not a database at all, " * 200)
    acc = accountant(events, cache_path=str(cache))

    assert acc.from_cache(request()) is None

    (notice,) = events.notices()
    assert notice.startswith("The response cache could not be read (") and "it was bypassed" in notice
    assert "moved to responses.sqlite3.corrupt" in notice
    assert (tmp_path / "responses.sqlite3.corrupt").read_bytes().startswith(b"not a database")
    acc.account(Finished("stop", MODEL), request(), ANSWER, Usage(10, 5), None, time.monotonic(), None)
    assert ResponseCache(cache).get(key_of(request())).text == ANSWER  # a new cache starts with this answer


def test_a_cache_that_cannot_be_moved_aside_is_still_bypassed(tmp_path, events):
    cache = tmp_path / "responses.sqlite3"
    cache.mkdir()  # not a file: SQLite cannot open it, and os.replace onto a file name keeps failing
    (tmp_path / "responses.sqlite3.corrupt").mkdir()
    (tmp_path / "responses.sqlite3.corrupt" / "keep").write_text("x")

    assert accountant(events, cache_path=str(cache)).from_cache(request()) is None
    (notice,) = events.notices()
    assert notice.endswith("it was bypassed.")


def test_the_budget_refuses_before_sending_and_nothing_is_recorded(tmp_path, events):
    ledger = str(tmp_path / "usage.sqlite3")
    acc = accountant(events, ledger_path=ledger, limits=Limits(daily_tokens=100))

    refusal = acc.refusal(request(max_tokens=256))  # the worst case alone is over 100 tokens

    assert isinstance(refusal, Failed) and refusal.kind == "budget"
    assert refusal.message.startswith("Refused: this request would go over your daily token budget")
    assert acc.refused
    acc.account(refusal, request(), "", None, None, time.monotonic(), None)
    assert events == [] and UsageLedger(ledger).totals().requests == 0


def test_the_budget_warns_near_its_limit_and_lets_the_request_go(tmp_path, events):
    ledger = str(tmp_path / "usage.sqlite3")
    acc = accountant(events, ledger_path=ledger, limits=Limits(daily_tokens=340))

    assert acc.refusal(request(max_tokens=256)) is None  # prompt + 256 is between 75 % and 100 % of 340

    (notice,) = events.notices()
    assert "% of your daily token budget" in notice
    assert not acc.refused
    assert accountant(events, ledger_path=ledger, limits=Limits()).refusal(request()) is None  # no limit on
    assert accountant(events, limits=Limits(daily_tokens=1)).refusal(request()) is None  # no ledger to count


def test_an_answer_without_usage_is_counted_and_a_failure_is_recorded_as_such(tmp_path, events):
    ledger = str(tmp_path / "usage.sqlite3")
    acc = accountant(events, ledger_path=ledger)

    acc.account(Failed("timed out", "timeout"), request(), ANSWER, None, None, time.monotonic(), None)
    acc.account(Cancelled("user"), request(), ANSWER, Usage(9, 9, estimated=True), None, time.monotonic(), None)

    first, second = events.prices()
    assert first.estimated_tokens and first.source == "estimate" and first.output_tokens > 0
    assert second.estimated_tokens  # LiteLLM's own count is no provider figure: counted here too
    assert sorted(r["outcome"] for r in ledger_rows(ledger)) == ["cancelled", "failed"]


def test_pricing_without_a_ledger_and_a_ledger_that_cannot_be_written(tmp_path, events):
    accountant(events, price=True).account(
        Finished("stop", MODEL), request(), ANSWER, Usage(10, 5), None, time.monotonic(), None
    )
    assert [(c.input_tokens, c.output_tokens) for c in events.prices()] == [(10, 5)]

    folder = tmp_path / "usage.sqlite3"
    bad = Events()
    acc = Accountant(Accounting(ledger_path=str(folder)), bad.append)
    folder.mkdir()  # the ledger's path is a folder: the row cannot be written
    acc.account(Finished("stop", MODEL), request(), ANSWER, Usage(10, 5), None, time.monotonic(), None)
    assert len(bad.prices()) == 1  # the user still sees the price...
    (notice,) = bad.notices()
    assert notice.startswith("Usage could not be recorded: ")  # ...and why nothing was recorded
