"""core.cost against real LiteLLM: costs from its offline map, "cost unknown" for models it does not know,
token counts from its token_counter, context windows from get_model_info."""

from __future__ import annotations

import threading
import time

import pytest

from screenwriter_llm.core.accounting import cost
from screenwriter_llm.core.provider.llm import import_litellm
from tests.provider_server import expected_text, expected_usage, load_recording

RECORDING = "openai_chat_include_usage_gpt4.sse"
UNKNOWN_MODELS = ["ollama_chat/llama3.1", "ollama_chat/llama3.1:8b", "openai/our-studio-finetune", "lemonade/qwen"]


@pytest.fixture(scope="module")
def litellm():
    return import_litellm()


def map_cost(litellm, key: str, prompt: int, completion: int) -> float:
    entry = litellm.model_cost[key]
    return prompt * entry["input_cost_per_token"] + completion * entry["output_cost_per_token"]


def test_recorded_gpt4_answer_costs_what_the_map_says(litellm):
    answer = load_recording(RECORDING).answer
    usage = expected_usage(RECORDING)
    result = cost.cost_for(f"openai/{answer.model}", usage["prompt_tokens"], usage["completion_tokens"])
    assert (result.input_tokens, result.output_tokens) == (usage["prompt_tokens"], usage["completion_tokens"])
    assert result.usd == pytest.approx(
        map_cost(litellm, answer.model, usage["prompt_tokens"], usage["completion_tokens"])
    )
    assert result.usd == pytest.approx(
        sum(
            litellm.cost_per_token(
                model=answer.model, prompt_tokens=usage["prompt_tokens"], completion_tokens=usage["completion_tokens"]
            )
        )
    )
    entry = litellm.model_cost[answer.model]
    assert result.rates == (entry["input_cost_per_token"], entry["output_cost_per_token"])
    assert (result.source, result.pricing, result.estimated_tokens) == ("provider", "map", False)
    line = result.describe()
    assert f"{usage['prompt_tokens']} in / {usage['completion_tokens']} out / {usage['total_tokens']} total" in line
    assert cost.format_usd(result.usd) in line
    assert "estimated" not in line and "unknown" not in line


@pytest.mark.parametrize("model", ["gpt-4-0613", "openai/gpt-4-0613"])
def test_cost_is_the_same_with_or_without_provider_prefix(litellm, model):
    assert cost.cost_for(model, 1000, 200).usd == pytest.approx(map_cost(litellm, "gpt-4-0613", 1000, 200))


@pytest.mark.parametrize(
    ("model", "key"), [("anthropic/claude-sonnet-4-5", "claude-sonnet-4-5"), ("ollama/llama3", "ollama/llama3")]
)
def test_other_mapped_models_use_their_map_entry(litellm, model, key):
    result = cost.cost_for(model, 3000, 700)
    assert result.pricing == "map"
    assert result.usd == pytest.approx(map_cost(litellm, key, 3000, 700))


@pytest.mark.parametrize("model", UNKNOWN_MODELS)
def test_unknown_models_have_no_cost_never_a_made_up_one(model):
    result = cost.cost_for(model, 1200, 300)
    assert result.usd is None and result.rates is None and result.pricing == "unknown"
    assert "cost unknown" in result.describe()
    assert "$" not in result.describe()


@pytest.mark.parametrize("model", UNKNOWN_MODELS)
def test_unknown_models_use_the_users_rates(model):
    rates = (2e-6, 8e-6)
    result = cost.cost_for(model, 1200, 300, custom_rates=rates)
    assert result.pricing == "custom" and result.rates == rates
    assert result.usd == pytest.approx(1200 * rates[0] + 300 * rates[1])
    assert "your rates" in result.describe()


def test_the_map_wins_over_user_rates_for_a_known_model(litellm):
    result = cost.cost_for("openai/gpt-4-0613", 100, 10, custom_rates=(1.0, 1.0))
    assert result.pricing == "map"
    assert result.usd == pytest.approx(map_cost(litellm, "gpt-4-0613", 100, 10))


def test_unmapped_local_models_are_not_looked_up_on_the_server(litellm, monkeypatch):
    """LiteLLM would POST to Ollama's /api/show (and invent $0 rates) for a model not in its map."""
    calls = []

    def refuse(*args, **kwargs):
        calls.append(kwargs.get("url") or args)
        raise AssertionError("network call")

    monkeypatch.setattr(litellm.module_level_client, "post", refuse)
    monkeypatch.setattr(litellm.module_level_client, "get", refuse)
    litellm.get_model_info.cache_clear()
    for model in ("ollama_chat/llama3.1:8b", "ollama/mistral:latest", "lemonade/qwen"):
        assert cost.lookup_model(model) is None
        assert cost.context_window(model, 4096) == 4096
        assert cost.cost_for(model, 10, 10).usd is None
    assert calls == []


def test_context_window_from_the_map_or_the_default(litellm):
    assert cost.context_window("openai/gpt-4-0613", 1234) == litellm.get_model_info("gpt-4-0613")["max_input_tokens"]
    assert (
        cost.context_window("anthropic/claude-sonnet-4-5", 1234)
        == litellm.model_cost["claude-sonnet-4-5"]["max_input_tokens"]
    )
    assert cost.context_window("ollama_chat/llama3.1", 6000) == 6000
    assert cost.context_window("nonsense-without-provider", 6000) == 6000


def test_count_tokens_is_litellms_token_counter(litellm):
    messages = [
        {"role": "system", "content": "You read screenplays."},
        {"role": "user", "content": "INT. FERRY - NIGHT"},
    ]
    assert cost.count_tokens("openai/gpt-4o-mini", messages=messages) == litellm.token_counter(
        model="openai/gpt-4o-mini", messages=messages
    )
    text = expected_text(RECORDING)
    assert cost.count_tokens("gpt-4", text=text) == litellm.token_counter(model="gpt-4", text=text)
    with pytest.raises(ValueError):
        cost.count_tokens("gpt-4")
    with pytest.raises(ValueError):
        cost.count_tokens("gpt-4", messages=messages, text="both")


def test_counting_never_downloads_a_tokenizer(litellm, monkeypatch):
    """LiteLLM would fetch Xenova/llama-3-tokenizer from huggingface.co for a "llama-3" model name."""
    import litellm.utils

    fetched = []
    monkeypatch.setattr(litellm.utils.tokenizer_dispatch, "from_pretrained", lambda *a, **k: fetched.append(a))
    monkeypatch.setattr(litellm, "disable_hf_tokenizer_download", None)
    litellm.utils._load_huggingface_tokenizer.cache_clear()
    text = expected_text(RECORDING)
    assert cost.count_tokens("groq/llama-3.1-8b-instant", text=text) == cost.count_tokens("gpt-4", text=text)
    assert fetched == []


def test_an_answer_without_provider_usage_is_estimated_and_marked(litellm):
    messages = [{"role": "user", "content": "Say this is a test."}]
    answer = expected_text(RECORDING)
    result = cost.cost_of_answer("openai/gpt-4-0613", messages, answer)
    prompt = litellm.token_counter(model="openai/gpt-4-0613", messages=messages)
    completion = litellm.token_counter(model="openai/gpt-4-0613", text=answer)
    assert (result.input_tokens, result.output_tokens) == (prompt, completion)
    assert result.estimated_tokens and result.source == "estimate"
    assert result.usd == pytest.approx(map_cost(litellm, "gpt-4-0613", prompt, completion))
    assert "(estimated)" in result.describe() and "≈" in result.describe()

    reported = cost.cost_of_answer("openai/gpt-4-0613", messages, answer, prompt_tokens=12, completion_tokens=5)
    assert (reported.input_tokens, reported.output_tokens, reported.source) == (12, 5, "provider")


def test_estimate_prices_the_worst_case(litellm):
    messages = [{"role": "user", "content": "Analyse this scene. " * 50}]
    estimate = cost.estimate_request("openai/gpt-4-0613", messages, max_tokens=2048, default_window=4096)
    prompt = litellm.token_counter(model="openai/gpt-4-0613", messages=messages)
    assert estimate.prompt_tokens == prompt
    assert estimate.context_window == litellm.model_cost["gpt-4-0613"]["max_input_tokens"] and estimate.window_known
    assert estimate.cost.usd == pytest.approx(map_cost(litellm, "gpt-4-0613", prompt, 2048))
    assert estimate.input_usd == pytest.approx(map_cost(litellm, "gpt-4-0613", prompt, 0))
    assert estimate.worst_case_tokens == prompt + 2048 and estimate.fits

    big = cost.estimate_request("openai/gpt-4-0613", messages, max_tokens=8192, default_window=4096)
    assert not big.fits

    local = cost.estimate_request("ollama_chat/llama3.1", messages, max_tokens=512, default_window=4096)
    assert (local.context_window, local.window_known, local.cost.usd, local.input_usd) == (4096, False, None, None)


def test_estimator_computes_in_the_background_and_remembers(litellm):
    estimator = cost.Estimator()
    messages = [{"role": "user", "content": "Hello"}]
    key = cost.estimate_key("openai/gpt-4o-mini", messages, 100, 8192)

    first = estimator.estimate("openai/gpt-4o-mini", messages, 100, 8192)
    assert estimator.wait(key, 30)
    result = estimator.estimate("openai/gpt-4o-mini", messages, 100, 8192)
    assert result is not None
    assert result.prompt_tokens == litellm.token_counter(model="openai/gpt-4o-mini", messages=messages)
    assert first is None  # a miss starts the work and returns at once

    def broken():
        raise RuntimeError("tokenizer missing")

    assert estimator.get("bad", broken) is None
    assert estimator.wait("bad", 5)
    assert estimator.get("bad", broken) is None
    assert estimator.error("bad") == "RuntimeError: tokenizer missing"


def test_a_cached_answer_costs_nothing_and_says_so():
    line = cost.Cost.cached(12, 5).describe()
    assert line.startswith("12 in / 5 out / 17 total tokens") and "cached: $0.00" in line
    assert cost.Cost.cached(None, None).usd == 0.0


def test_tokens_per_second_counts_from_the_first_token():
    assert cost.tokens_per_second(100, 0.5, 2.5) == pytest.approx(100 / 2.0)
    assert cost.tokens_per_second(0, 0.5, 2.5) is None
    assert cost.tokens_per_second(10, None, 2.5) is None
    assert cost.tokens_per_second(10, 1.0, 1.0) is None


@pytest.mark.parametrize(
    ("usd", "text"),
    [(0, "$0.00"), (0.00066, "$0.00066"), (1.2e-05, "$0.000012"), (0.5, "$0.50"), (1234.5, "$1,234.50")],
)
def test_format_usd(usd, text):
    assert cost.format_usd(usd) == text


def test_a_cost_without_rates_still_shows_its_usd():
    line = cost.Cost(100, 20, 0.25, None, False, "provider", "map").describe()
    assert line == "100 in / 20 out / 120 total tokens, $0.25"


def test_a_model_whose_map_entry_is_missing_is_unknown(litellm, monkeypatch):
    # An Ollama name without a model: no map entry, and never looked up on a server.
    assert cost.lookup_model("ollama_chat/") is None
    assert cost.cost_for("ollama_chat/", 10, 10).usd is None
    # get_model_info names a key the map does not hold (as for a model registered at run time without prices).
    monkeypatch.setattr(litellm, "get_model_info", lambda model: {"key": "registered-at-run-time"})
    assert cost.lookup_model("openai/gpt-4-0613") is None
    assert cost.context_window("openai/gpt-4-0613", 777) == 777


def test_the_estimator_keeps_the_latest_keys_and_join_waits_for_running_work():
    release = threading.Event()
    estimator = cost.Estimator(keep=2)
    for key in ("a", "b", "c"):
        assert estimator.get(key, lambda key=key: key.upper()) is None
        assert estimator.wait(key, 5)
    assert [estimator.get(key, lambda: "again") for key in ("b", "c")] == ["B", "C"]
    assert estimator.get("a", lambda: "A2") is None  # "a" was evicted: computed again
    assert estimator.wait("a", 5) and estimator.get("a", lambda: "never") == "A2"

    assert estimator.get("slow", lambda: release.wait(5) and "done") is None
    started = time.monotonic()
    estimator.join(0.2)  # gives up after its timeout while the work still runs
    assert 0.15 <= time.monotonic() - started < 3
    assert not estimator.wait("slow", 0)
    release.set()
    estimator.join(5)
    assert estimator.wait("never-started", 0)  # nothing running for a key: nothing to wait for
    assert estimator.get("slow", lambda: "x") == "done"
