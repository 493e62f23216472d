"""core.context with LiteLLM's real token counter: a long script chat never asks for more than the model's
context window, keeps the system prompt and the newest turns, and says what it dropped or summarised."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest

from screenwriter_llm.core.accounting import cost
from screenwriter_llm.core.provider.llm import import_litellm
from screenwriter_llm.core.tasks import context

MODEL = "openai/gpt-4-0613"  # an 8,192-token window in LiteLLM's map
MAX_TOKENS = 1024
SYSTEM = (
    "You are a script consultant. The screenplay is 'The Last Birthday Card'. Scenes: 1 INT. KITCHEN - NIGHT; "
    "2 EXT. CEMETERY - DAY; 3 INT. ATTIC - LATER. Answer about craft: structure, character, dialogue."
)


def shared_dir() -> Path:
    shared = os.environ.get("SCREENWRITER_SHARED")
    return Path(shared) if shared else Path(__file__).resolve().parents[4].parent / "shared"


@pytest.fixture(scope="module")
def litellm():
    return import_litellm()


@pytest.fixture(scope="module")
def count(litellm):
    return functools.partial(cost.count_tokens, MODEL)


@pytest.fixture(scope="module")
def window(litellm):
    window = cost.context_window(MODEL, default=4096)
    assert window == litellm.model_cost["gpt-4-0613"]["max_input_tokens"]
    return window


@pytest.fixture(scope="module")
def chat():
    """60 exchanges (120 turns) about a real screenplay: the user quotes a passage, the assistant answers
    with a longer one, cycling through the script."""
    text = (shared_dir() / "screenplays" / "The-Last-Birthday-Card.fountain").read_text(encoding="utf-8")
    turns = []
    for i in range(60):
        start = (i * 700) % (len(text) - 1200)
        turns.append(
            {"role": "user", "content": f"Question {i + 1}: what works in this passage?\n{text[start : start + 350]}"}
        )
        turns.append(
            {"role": "assistant", "content": f"Answer {i + 1}: consider the beats.\n{text[start + 350 : start + 1150]}"}
        )
    return turns


def server_tokens(litellm, messages) -> int:
    """What a provider would be asked for, counted independently with LiteLLM's token_counter."""
    return litellm.token_counter(model=MODEL, messages=[dict(m) for m in messages])


def test_a_60_exchange_chat_never_exceeds_an_8192_token_window(litellm, count, window, chat):
    dropped_some = False
    for n in range(60):
        turns = chat[: 2 * n]
        new = f"Follow-up {n + 1}: and the scene after it?"
        plan = context.plan_context(SYSTEM, turns, new, MAX_TOKENS, window, count)

        assert server_tokens(litellm, plan.messages) + MAX_TOKENS <= window
        assert plan.prompt_tokens == server_tokens(litellm, plan.messages)
        assert plan.messages[0] == {"role": "system", "content": SYSTEM}
        assert plan.messages[-1] == {"role": "user", "content": new}
        # The newest turns are kept, as a contiguous run up to the last one, in order.
        assert plan.kept == tuple(range(len(turns) - len(plan.kept), len(turns)))
        assert list(plan.messages[1:-1]) == turns[len(turns) - len(plan.kept) :]
        if turns:
            assert plan.kept, "the newest exchange always fits here"
            assert plan.messages[1]["role"] == "user"
        # Everything is accounted for, and only what had to go went.
        assert sorted(plan.kept + plan.dropped) == list(range(len(turns)))
        if plan.dropped:
            dropped_some = True
            one_more = [plan.messages[0], *turns[plan.dropped[-1] - 1 :], plan.messages[-1]]
            assert server_tokens(litellm, one_more) + MAX_TOKENS > window
            assert f"turns 1–{plan.dropped[-1] + 1} dropped" in plan.describe()
    assert dropped_some, "the chat must outgrow the window for this test to mean anything"


def test_a_summary_replaces_the_oldest_turns(litellm, count, window, chat):
    summary = context.ChatSummary("The writer asked about the kitchen scene; we discussed Ellen's grief.", covers=40)
    plan = context.plan_context(SYSTEM, chat, "Now the attic?", MAX_TOKENS, window, count, summary=summary)
    assert plan.summary_used and plan.summarised == tuple(range(40))
    system = plan.messages[0]
    assert system["role"] == "system" and system["content"].startswith(SYSTEM)
    assert summary.text in system["content"] and context.SUMMARY_HEADING in system["content"]
    assert server_tokens(litellm, plan.messages) + MAX_TOKENS <= window
    assert plan.kept[-1] == len(chat) - 1 and plan.kept[0] >= 40
    assert plan.dropped == tuple(range(40, plan.kept[0]))
    assert "turns 1–40 summarised" in plan.describe()


def test_a_summary_covering_everything_that_fits_sends_it_all(count, window, chat):
    summary = context.ChatSummary("Earlier: notes on the opening.", covers=len(chat) - 4)
    plan = context.plan_context(SYSTEM, chat, "And?", MAX_TOKENS, window, count, summary=summary)
    assert plan.summary_used and plan.dropped == () and plan.kept == tuple(range(len(chat) - 4, len(chat)))


def test_a_summary_too_large_to_fit_is_left_out_and_reported(litellm, count, chat):
    huge = context.ChatSummary("beat " * 3000, covers=10)
    window = 4096
    plan = context.plan_context(SYSTEM, chat, "Next?", MAX_TOKENS, window, count, summary=huge)
    assert not plan.summary_used and plan.summarised == ()
    assert huge.text not in plan.messages[0]["content"]
    assert server_tokens(litellm, plan.messages) + MAX_TOKENS <= window


def test_the_system_prompt_and_message_alone_too_big_is_refused(count):
    with pytest.raises(context.ContextTooLarge, match="more than the model's 1,000-token context window"):
        context.plan_context(SYSTEM, [], "word " * 2000, 200, 1000, count)


def test_an_exchange_is_dropped_whole(litellm, count):
    turns = [
        {"role": "user", "content": "first question " * 200},
        {"role": "assistant", "content": "first answer " * 200},
        {"role": "assistant", "content": "a second reply in the same exchange " * 10},
        {"role": "user", "content": "second question"},
        {"role": "assistant", "content": "second answer"},
    ]
    fits_last = server_tokens(
        litellm, [{"role": "system", "content": SYSTEM}, *turns[3:], {"role": "user", "content": "q"}]
    )
    window = fits_last + 100 + 50  # room for the last exchange, not for the reply before it
    plan = context.plan_context(SYSTEM, turns, "q", 100, window, count)
    assert plan.kept == (3, 4) and plan.dropped == (0, 1, 2)
    assert plan.messages[1]["role"] == "user"


def test_no_system_prompt_and_no_history(count):
    plan = context.plan_context("", [], "Hello", 100, 8192, count)
    assert plan.messages == ({"role": "user", "content": "Hello"},)
    assert plan.kept == plan.dropped == () and plan.describe().endswith("no earlier turns")


def test_bad_arguments(count):
    with pytest.raises(ValueError, match="covers 5 turns"):
        context.plan_context(SYSTEM, [], "x", 10, 8192, count, summary=context.ChatSummary("s", covers=5))
    with pytest.raises(ValueError):
        context.plan_context(SYSTEM, [], "x", -1, 8192, count)
