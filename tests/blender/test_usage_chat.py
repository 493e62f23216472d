"""Tokens, cost, the usage ledger, budgets, the cache and the script chat, through real bpy, real
LiteLLM (its offline cost map and tokenizer), real SQLite and the loopback server replaying real
recordings whose usage numbers are known."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

import bpy
import pytest

from screenwriter_llm import runtime, settings, texts
from screenwriter_llm.core.accounting.usage import UsageLedger, UsageRecord
from screenwriter_llm.settings import data_dir
from tests.blender.conftest import ADDON, configure, load_screenplay
from tests.blender.test_reliability import pump_until, start_by_hand
from tests.provider_server import expected_text, expected_usage, replay, synthetic

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
os.environ["LITELLM_MODE"] = "PRODUCTION"
import litellm  # noqa: E402 - the test process may import it; Blender's main thread never does

OPENAI = "openai_chat_include_usage_gpt4.sse"


def ledger() -> UsageLedger:
    return UsageLedger(data_dir() / settings.LEDGER_FILE)


def last_rows(n: int) -> list[UsageRecord]:
    return ledger().records()[-n:]


def analyze(source, output="Analysis", statuses=None):
    if statuses is not None:
        runtime.get().listeners.append(lambda job, batch: statuses.append(job.status_line()))
    try:
        return bpy.ops.screenwriter.analyze_scene(text=source.name, scene=3, output=output)
    finally:
        runtime.get().listeners.clear()


def test_reported_usage_and_cost_from_the_recording(server, received, capfd):
    server.enqueue("openai", replay(OPENAI))
    configure("openai/gpt-4-0613", server.api_base("openai"))
    source = load_screenplay("Brick-and-Steel.fountain")
    statuses: list[str] = []
    assert analyze(source, statuses=statuses) == {"FINISHED"}
    usage = expected_usage(OPENAI)
    prompt_usd, completion_usd = litellm.cost_per_token(
        model="gpt-4-0613", prompt_tokens=usage["prompt_tokens"], completion_tokens=usage["completion_tokens"]
    )
    usd = prompt_usd + completion_usd
    expected = f"{usage['prompt_tokens']} in / {usage['completion_tokens']} out / {usage['total_tokens']} total tokens"
    assert statuses[-1].startswith(f"Done by openai/gpt-4-0613: {expected}, ${usd:.5f} at $30/M in, $60/M out")
    assert "first token" in statuses[-1] and "tokens/s" in statuses[-1]
    assert expected in capfd.readouterr().out, "the operator's report carries the same figures"
    row = last_rows(1)[0]
    assert (row.model, row.input_tokens, row.output_tokens, row.estimated) == (
        "openai/gpt-4-0613",
        usage["prompt_tokens"],
        usage["completion_tokens"],
        False,
    )
    assert row.cost_usd == pytest.approx(usd)
    assert row.operator == "screenwriter.analyze_scene" and row.script == source.name and row.outcome == "finished"
    kept = json.loads(bpy.data.texts["Analysis"][texts.USAGE_KEY])
    assert (kept["input_tokens"], kept["output_tokens"], kept["cost_usd"]) == (12, 5, pytest.approx(usd))
    assert bpy.data.texts["Analysis"].as_string() == expected_text(OPENAI)


def test_a_provider_without_usage_gets_an_estimate_marked_as_such(server, received):
    answer = "The scene turns when Steel hangs up."
    server.enqueue("openai", synthetic(text=answer, no_usage=True))
    configure("openai/gpt-4-0613", server.api_base("openai"))
    source = load_screenplay("Brick-and-Steel.fountain")
    statuses: list[str] = []
    analyze(source, statuses=statuses)
    body = received()[0].body
    prompt = litellm.token_counter(model="openai/gpt-4-0613", messages=body["messages"])
    completion = litellm.token_counter(model="openai/gpt-4-0613", text=answer)
    assert f"≈{prompt} in / ≈{completion} out" in statuses[-1] and "(estimated)" in statuses[-1]
    row = last_rows(1)[0]
    assert (row.input_tokens, row.output_tokens, row.estimated) == (prompt, completion, True)


def test_a_model_missing_from_the_cost_map_shows_cost_unknown_or_your_rates(server, received):
    configure("openai/my-local-model", server.api_base("openai"))
    source = load_screenplay("Brick-and-Steel.fountain")
    statuses: list[str] = []
    server.enqueue("openai", replay(OPENAI))
    analyze(source, statuses=statuses)
    assert statuses[-1].endswith(("cost unknown", "s")) and "cost unknown" in statuses[-1]
    assert last_rows(1)[0].cost_usd is None
    prefs = bpy.context.preferences.addons[ADDON].preferences
    prefs.input_usd_per_mtok, prefs.output_usd_per_mtok = 1.0, 2.0
    try:
        server.enqueue("openai", replay(OPENAI))
        statuses.clear()
        analyze(source, output="Analysis 2", statuses=statuses)
    finally:
        prefs.input_usd_per_mtok = prefs.output_usd_per_mtok = 0.0
    assert "at $1/M in, $2/M out (your rates)" in statuses[-1]
    assert last_rows(1)[0].cost_usd == pytest.approx((12 * 1.0 + 5 * 2.0) / 1e6)


def test_a_spent_daily_budget_refuses_before_anything_is_sent(server, received):
    prefs = bpy.context.preferences.addons[ADDON].preferences
    prefs.daily_limit_usd = 0.50
    ledger().record(
        UsageRecord(
            model="openai/gpt-4-0613",
            outcome="finished",
            cost_usd=0.75,
            input_tokens=1,
            output_tokens=1,
            time=datetime.now(UTC),
        )
    )
    configure("openai/gpt-4-0613", server.api_base("openai"))
    source = load_screenplay("Brick-and-Steel.fountain")
    try:
        with pytest.raises(RuntimeError) as raised:
            analyze(source)
    finally:
        prefs.daily_limit_usd = 0.0
    message = str(raised.value)
    assert "daily" in message and "$0.50" in message and "resets" in message
    assert received() == [], "the server receives nothing"


def test_two_parallel_jobs_write_two_ledger_rows(server, received):
    server.enqueue("openai", synthetic(tokens=120, tokens_per_second=300), synthetic(tokens=80, tokens_per_second=300))
    configure("openai/gpt-4-0613", server.api_base("openai"))
    before = len(ledger().records())
    a = start_by_hand(load_screenplay("Brick-and-Steel.fountain"), "A")
    b = start_by_hand(load_screenplay("The-Last-Birthday-Card.fountain"), "B")
    pump_until(lambda: a.outcome is not None and b.outcome is not None)
    rows = ledger().records()[before:]
    assert len(rows) == 2
    assert sorted(r.output_tokens for r in rows) == [80, 120]


def test_a_cache_hit_sends_nothing(server, received):
    prefs = bpy.context.preferences.addons[ADDON].preferences
    prefs.use_cache = True
    try:
        server.enqueue("openai", replay(OPENAI))
        configure("openai/gpt-4-0613", server.api_base("openai"), temperature=0.0)
        source = load_screenplay("Brick-and-Steel.fountain")
        analyze(source, output="First")
        statuses: list[str] = []
        assert analyze(source, output="Second", statuses=statuses) == {"FINISHED"}
    finally:
        prefs.use_cache = False
    assert len(received()) == 1
    assert bpy.data.texts["Second"].as_string() == expected_text(OPENAI)
    assert "cached: $0.00 (no request sent)" in statuses[-1]
    assert last_rows(1)[0].outcome == "cached"


def send(source, message: str) -> None:
    assert bpy.ops.screenwriter.chat_send(text=source.name, message=message) == {"FINISHED"}


def test_a_long_chat_never_overflows_an_8k_window_and_survives_reload(server, received, tmp_path):
    server.set_default("openai", synthetic(tokens=350))
    configure("openai/gpt-4-0613", server.api_base("openai"))  # an 8,192-token context window
    bpy.context.scene.screenwriter.max_tokens = 1024
    source = load_screenplay("Big-Fish.fountain")
    source.cursor_set(40)
    try:
        for i in range(30):  # 60 turns
            send(source, f"Question {i}: what does this scene need? " + "Be thorough. " * 40)
    finally:
        server.clear_queues()
    requests = received()
    assert len(requests) == 30
    for request in requests:
        sent = litellm.token_counter(model="openai/gpt-4-0613", messages=request.body["messages"])
        assert sent + request.body["max_tokens"] <= 8192
        assert request.body["messages"][0]["role"] == "system"
        assert "Big Fish" in request.body["messages"][0]["content"]
        assert request.body["messages"][-1]["content"].startswith(f"Question {requests.index(request)}:")
    assert len(requests[-1].body["messages"]) < 61, "old turns were dropped"
    chat_text = bpy.data.texts["Big-Fish - Chat"]
    stored = texts.load_conversation(chat_text)
    assert len(stored.turns) == 60
    assert "dropped" in stored.context and "of 8,192 tokens" in stored.context
    assert chat_text.as_string().count("\nYOU: Question ") == 30

    path = tmp_path / "chat.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    bpy.ops.wm.open_mainfile(filepath=str(path))
    assert len(texts.load_conversation(bpy.data.texts["Big-Fish - Chat"]).turns) == 60


def test_summarise_then_clear(server, received):
    server.set_default("openai", synthetic(text="Fine."))
    configure("openai/gpt-4-0613", server.api_base("openai"))
    source = load_screenplay("Brick-and-Steel.fountain")
    try:
        for i in range(5):
            send(source, f"Note {i}")
        server.enqueue("openai", synthetic(text="They discussed notes 0 to 2."))
        assert bpy.ops.screenwriter.chat_summarise(text=source.name) == {"FINISHED"}
        send(source, "And now?")
    finally:
        server.clear_queues()
    summary_request, last = received()[5], received()[6]
    assert "Note 0" in summary_request.body["messages"][-1]["content"]
    assert "They discussed notes 0 to 2." in last.body["messages"][0]["content"], "the summary is carried"
    assert all("Note 0" not in m["content"] for m in last.body["messages"][1:])
    assert bpy.ops.screenwriter.chat_clear(text=source.name) == {"FINISHED"}
    assert texts.load_conversation(bpy.data.texts["Brick-and-Steel - Chat"]).turns == []
    assert "Note 4" in bpy.data.texts["Brick-and-Steel - Chat (previous)"].as_string()
