"""The defects the design review found, each through real bpy: they failed before the one-request-path rebuild."""

from __future__ import annotations

import bpy

from screenwriter_llm import runtime, settings
from tests.blender.conftest import configure, load_screenplay
from tests.provider_server import error, expected_text, replay, synthetic


def test_analyze_all_scenes_beside_a_users_text_named_like_its_report(server, received):
    """The user's Text is untouched, the message says what to do, and every scene job is still drained (an
    exception escaping the timer used to unregister it)."""
    server.set_default("openai", synthetic(text="Scene notes."))
    configure("openai/gpt-4o-mini", server.api_base("openai"))
    source = load_screenplay("The-Last-Birthday-Card.fountain")
    mine = bpy.data.texts.new("The-Last-Birthday-Card - Coverage")
    mine.from_string("My own coverage notes.\n")
    try:
        try:
            bpy.ops.screenwriter.analyze_all_scenes(text=source.name, concurrency=3)
        except RuntimeError as exc:  # background mode raises the ERROR report
            message = str(exc)
        else:
            message = runtime.get().statuses[source.name].text
    finally:
        server.clear_queues()
    assert mine.as_string() == "My own coverage notes.\n"
    assert "was not written by Screenwriter LLM" in message and "rename that Text" in message
    assert not runtime.get().running() and not runtime.get().runs
    scenes = [t for t in bpy.data.texts if t.name.startswith("The-Last-Birthday-Card - Scene ")]
    assert len(scenes) == len(received()) > 1
    assert all(t.get("screenwriter_complete") for t in scenes), "the other jobs were drained to the end"


def test_a_second_test_connection_does_not_cancel_the_first(server, received):
    configure("openai/gpt-4o-mini", server.api_base("openai"))
    server.enqueue("openai", synthetic(text="OK", first_byte_delay=0.5))
    from screenwriter_llm import commands

    first = commands.start(commands.test_connection(bpy.context))
    try:
        commands.test_connection(bpy.context)
    except commands.CommandError as exc:
        assert "already running" in str(exc)
    else:
        raise AssertionError("a second probe must be refused while one runs")
    from screenwriter_llm import pump

    pump.run_until_done(first)
    assert first.outcome is not None and type(first.outcome).__name__ == "Finished"
    assert len(received()) == 1


def test_a_second_summarise_does_not_cancel_the_first(server, received):
    server.set_default("openai", synthetic(text="Fine."))
    configure("openai/gpt-4-0613", server.api_base("openai"))
    source = load_screenplay("Brick-and-Steel.fountain")
    from screenwriter_llm import commands, pump

    try:
        for i in range(6):
            assert bpy.ops.screenwriter.chat_send(text=source.name, message=f"Note {i}") == {"FINISHED"}
        server.enqueue("openai", synthetic(text="They discussed notes.", first_byte_delay=0.5))
        first = commands.start(commands.chat_summarise(bpy.context, source.name))
        try:
            commands.chat_summarise(bpy.context, source.name)
        except commands.CommandError as exc:
            assert "summarised" in str(exc)
        else:
            raise AssertionError("a second summary must be refused while one runs")
        pump.run_until_done(first)
    finally:
        server.clear_queues()
    assert type(first.outcome).__name__ == "Finished" and not first.cancel_requested
    chat = bpy.data.texts["Brick-and-Steel - Chat"]
    assert "summarised" in chat.as_string()


def test_summarise_gets_retries_and_fallbacks_like_any_request(server, received):
    server.set_default("openai", synthetic(text="Fine."))
    configure("openai/gpt-4-0613", server.api_base("openai"))
    source = load_screenplay("Brick-and-Steel.fountain")
    try:
        for i in range(6):
            bpy.ops.screenwriter.chat_send(text=source.name, message=f"Note {i}")
        server.enqueue("openai", error(503), synthetic(text="Summary after a retry."))
        assert bpy.ops.screenwriter.chat_summarise(text=source.name) == {"FINISHED"}
    finally:
        server.clear_queues()
    assert "summarised" in bpy.data.texts["Brick-and-Steel - Chat"].as_string()
    assert len(received()) == 6 + 2, "the 503 was retried"


def test_a_corrupt_response_cache_never_fails_a_request(server, received):
    configure("openai/gpt-4o-mini", server.api_base("openai"), temperature=0.0)
    prefs = settings.preferences()
    assert prefs is not None
    prefs.use_cache = True
    path = settings.data_dir() / settings.CACHE_FILE
    path.write_bytes(b"this is not a SQLite database" * 100)
    source = load_screenplay("Brick-and-Steel.fountain")
    server.enqueue("openai", replay("openai_chat_include_usage_gpt4.sse"), replay("openai_chat_include_usage_gpt4.sse"))
    try:
        warnings: list[str] = []
        runtime.get().listeners.append(lambda job, batch: warnings.extend(job.notices) if batch.outcome else None)
        assert bpy.ops.screenwriter.analyze_scene(text=source.name, scene=1, output="Cached") == {"FINISHED"}
        assert bpy.data.texts["Cached"].as_string() == expected_text("openai_chat_include_usage_gpt4.sse")
        assert any("cache could not be read" in w and "bypassed" in w for w in warnings), warnings
        # Rebuilt: the same request is now answered from the new cache without a request.
        assert bpy.ops.screenwriter.analyze_scene(text=source.name, scene=1, output="Cached") == {"FINISHED"}
        assert len(received()) == 1
    finally:
        runtime.get().listeners.clear()
        prefs.use_cache = False
        server.clear_queues()


def test_after_a_fallback_the_messages_name_the_model_that_answered(server, received):
    server.enqueue("openai", error("openai_401_invalid_api_key.json"))
    server.enqueue("anthropic", replay("anthropic_text_sonnet45.sse"))
    configure("openai/gpt-4o-mini", server.base_url)
    bpy.context.scene.screenwriter.fallback_models = "anthropic/claude-sonnet-4-5"
    source = load_screenplay("Brick-and-Steel.fountain")
    reports: list[str] = []
    runtime.get().listeners.append(lambda job, batch: reports.append(job.status_line()))
    try:
        assert bpy.ops.screenwriter.analyze_scene(text=source.name, scene=1, output="Fell Back") == {"FINISHED"}
    finally:
        runtime.get().listeners.clear()
        bpy.context.scene.screenwriter.fallback_models = ""
    usage = bpy.data.texts["Fell Back"].get("screenwriter_usage")
    assert '"model": "anthropic/claude-sonnet-4-5"' in usage
    assert reports[-1].startswith("Done by anthropic/claude-sonnet-4-5 (fallback)")
    assert not any("Streaming" in r and "gpt-4o-mini" in r for r in reports[-3:])


def test_status_counts_chunks_while_streaming_and_tokens_when_done(server, received):
    configure("openai/gpt-4o-mini", server.api_base("openai"))
    server.enqueue("openai", synthetic(tokens=50, tokens_per_second=400))
    source = load_screenplay("Brick-and-Steel.fountain")
    lines: list[str] = []
    runtime.get().listeners.append(lambda job, batch: lines.append(job.status_line()))
    try:
        assert bpy.ops.screenwriter.analyze_scene(text=source.name, scene=1, output="Counted") == {"FINISHED"}
    finally:
        runtime.get().listeners.clear()
    streaming = [line for line in lines if line.startswith("Streaming")]
    assert streaming and all(" chunks from " in line and " tokens " not in line for line in streaming)
    assert "50 out" in lines[-1] and "tokens" in lines[-1]


def test_chat_messages_do_not_speak_of_the_analysis(server, received):
    configure("openai/gpt-4o-mini", server.api_base("openai"))
    server.enqueue("openai", synthetic(text="Half an answ", close_after=3))
    source = load_screenplay("Brick-and-Steel.fountain")
    try:
        bpy.ops.screenwriter.chat_send(text=source.name, message="Who is Steel?")
    except RuntimeError:
        pass
    chat = bpy.data.texts["Brick-and-Steel - Chat"].as_string()
    assert "analysis" not in chat.lower()
    assert "[Screenwriter LLM: stopped." in chat
