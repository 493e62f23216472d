"""Analyze Scene end to end in real Blender (bpy): real screenplays, real LiteLLM, real HTTP on
loopback replaying real provider recordings. Background mode drives the pump synchronously."""

from __future__ import annotations

import json
import subprocess
import sys

import bpy
import pytest

from screenwriter_llm import runtime
from screenwriter_llm.core.screenplay import fountain
from tests.blender.conftest import REPO, SCREENPLAYS, configure, load_screenplay
from tests.provider_server import error, expected_text, replay, synthetic

SCRIPTS = ("Brick-and-Steel.fountain", "The-Last-Birthday-Card.fountain", "Big-Fish.fountain")
PROVIDERS = {
    # provider: (model, recording)
    "openai": ("openai/gpt-4o-mini", "openai_chat_include_usage_gpt4.sse"),
    "anthropic": ("anthropic/claude-sonnet-4-5", "anthropic_text_sonnet45.sse"),
    "ollama": ("ollama_chat/llama3.1", "ollama_chat_llama31_via_litellm.ndjson"),
}


def user_message(body: dict) -> str:
    """The text of every user message in a request body, whatever the wire format."""
    parts = []
    for message in body["messages"]:
        if message["role"] != "user":
            continue
        content = message["content"]
        if isinstance(content, list):  # Anthropic content blocks
            content = "".join(block.get("text", "") for block in content)
        parts.append(content)
    return "\n".join(parts)


@pytest.mark.parametrize("script", SCRIPTS)
@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_analysis_streams_verbatim_into_the_output_text(server, received, provider, script):
    model, recording = PROVIDERS[provider]
    server.enqueue(provider, replay(recording))
    configure(model, server.api_base(provider), temperature=0.3)
    source = load_screenplay(script)
    before = source.as_string()
    screenplay = fountain.parse(before)

    result = bpy.ops.screenwriter.analyze_scene(text=source.name, scene=3, output="Analysis")

    assert result == {"FINISHED"}
    assert bpy.data.texts["Analysis"].as_string() == expected_text(recording)
    assert source.as_string() == before, "the screenplay must never be modified"
    requests = received()
    assert len(requests) == 1
    body = requests[0].body
    assert body["model"] == model.split("/", 1)[1]
    assert body["stream"] is True
    temperature = body.get("temperature", body.get("options", {}).get("temperature"))
    assert temperature == pytest.approx(0.3)
    if provider == "openai":
        assert body["stream_options"] == {"include_usage": True}
    sent = user_message(body)
    scene2, scene3, scene4 = screenplay.scenes[1:4]
    assert screenplay.scene_text(scene3) in sent
    assert screenplay.scene_text(scene2) not in sent
    assert screenplay.scene_text(scene4) not in sent
    assert "<screenplay_scene>" in sent and "</screenplay_scene>" in sent


def test_thinking_is_not_written_as_the_answer(server, received):
    recording = "anthropic_thinking_haiku45.sse"
    server.enqueue("anthropic", replay(recording))
    configure("anthropic/claude-haiku-4-5", server.api_base("anthropic"))
    source = load_screenplay("Brick-and-Steel.fountain")
    seen_thinking = []
    runtime.get().listeners.append(lambda job, batch: seen_thinking.append(batch.thinking))
    try:
        assert bpy.ops.screenwriter.analyze_scene(text=source.name, scene=1, output="Names") == {"FINISHED"}
    finally:
        runtime.get().listeners.clear()
    answer = bpy.data.texts["Names"].as_string()
    assert answer == expected_text(recording)
    assert "The user wants" not in answer
    assert any(seen_thinking), "the pump must have seen the model thinking"


def test_non_streaming_lands_the_whole_answer_in_one_write(server, received):
    recording = "openai_chat_include_usage_gpt4.sse"
    server.enqueue("openai", replay(recording))
    configure("openai/gpt-4o-mini", server.api_base("openai"), stream=False)
    source = load_screenplay("Brick-and-Steel.fountain")
    batches = []
    runtime.get().listeners.append(lambda job, batch: batches.append(batch.text) if batch.text else None)
    try:
        assert bpy.ops.screenwriter.analyze_scene(text=source.name, scene=2, output="Whole") == {"FINISHED"}
    finally:
        runtime.get().listeners.clear()
    assert bpy.data.texts["Whole"].as_string() == expected_text(recording)
    assert batches == [expected_text(recording)]
    assert received()[0].body.get("stream", False) is False  # LiteLLM omits "stream" when off


def test_scene_under_the_cursor_and_derived_output_name(server, received):
    server.enqueue("openai", replay())
    configure("openai/gpt-4o-mini", server.api_base("openai"))
    source = load_screenplay("The-Last-Birthday-Card.fountain")
    screenplay = fountain.parse(source.as_string())
    scene = screenplay.scenes[4]
    source.cursor_set(scene.start_line + 2, character=0)

    assert bpy.ops.screenwriter.analyze_scene(text=source.name) == {"FINISHED"}

    name = "The-Last-Birthday-Card - Scene 5 Analysis"
    assert bpy.data.texts[name].as_string() == expected_text("openai_chat_include_usage_gpt4.sse")
    assert screenplay.scene_text(scene) in user_message(received()[0].body)


def test_many_tokens_arrive_complete_and_in_order(server, received):
    server.enqueue("openai", synthetic(tokens=2000))
    configure("openai/gpt-4o-mini", server.api_base("openai"))
    source = load_screenplay("Brick-and-Steel.fountain")
    writes = []
    runtime.get().listeners.append(lambda job, batch: writes.append(len(batch.text)))
    try:
        assert bpy.ops.screenwriter.analyze_scene(text=source.name, scene=1, output="Long") == {"FINISHED"}
    finally:
        runtime.get().listeners.clear()
    words = bpy.data.texts["Long"].as_string().split()
    assert words == [f"tok{i}" for i in range(2000)]
    assert sum(writes) == len(bpy.data.texts["Long"].as_string())


def test_multibyte_text_split_across_chunks_is_written_intact(server, received):
    text = "Ça a l’air — très “juste”. 台詞は良い 🎬 naïve café\nÉTÉ — 夏 🌊 über"
    # Paced, so the pump writes it in several batches, each appended after multi-byte text.
    server.enqueue("openai", synthetic(text=text, tokens_per_second=60))
    configure("openai/gpt-4o-mini", server.api_base("openai"))
    source = load_screenplay("Brick-and-Steel.fountain")
    writes = [0]
    runtime.get().listeners.append(lambda job, batch: writes.__setitem__(0, writes[0] + bool(batch.text)))
    try:
        assert bpy.ops.screenwriter.analyze_scene(text=source.name, scene=1, output="Unicode") == {"FINISHED"}
    finally:
        runtime.get().listeners.clear()
    assert bpy.data.texts["Unicode"].as_string().split() == text.split()
    assert writes[0] > 1, "the answer must have arrived in several writes for this test to mean anything"


def test_wrong_key_is_reported_with_the_variable_to_set_and_kept_out_of_text(server, received):
    server.enqueue("openai", error("openai_401_invalid_api_key.json"))
    configure("openai/gpt-4o-mini", server.api_base("openai"))
    source = load_screenplay("Brick-and-Steel.fountain")
    with pytest.raises(RuntimeError) as raised:
        bpy.ops.screenwriter.analyze_scene(text=source.name, scene=1, output="Auth")
    message = str(raised.value)
    assert "OPENAI_API_KEY" in message and "401" in message
    note = bpy.data.texts["Auth"].as_string()
    assert note.startswith("[Screenwriter LLM: stopped. No answer was received.")
    assert "OPENAI_API_KEY" in note
    assert "sk-test-openai-0000000000000000abcd" not in message + note
    assert len(received()) == 1, "a 401 is not retried"


def test_cancel_keeps_what_arrived_and_closes_the_connection(server, received):
    server.enqueue("openai", synthetic(tokens=400, tokens_per_second=200))
    configure("openai/gpt-4o-mini", server.api_base("openai"))
    source = load_screenplay("Brick-and-Steel.fountain")

    def cancel_after_some_text(job, batch):
        if job.chars_received > 40 and job.outcome is None:
            bpy.ops.screenwriter.cancel()

    runtime.get().listeners.append(cancel_after_some_text)
    try:
        result = bpy.ops.screenwriter.analyze_scene(text=source.name, scene=1, output="Cut")
    finally:
        runtime.get().listeners.clear()
    assert result == {"CANCELLED"}
    content = bpy.data.texts["Cut"].as_string()
    answer, _, note = content.partition("\n\n[Screenwriter LLM: ")
    words = answer.split()
    assert 5 < len(words) < 400
    assert words == [f"tok{i}" for i in range(len(words))], "what arrived is kept whole and in order"
    assert note.startswith("Cancelled; the answer above is incomplete")
    request = received()[0]
    assert request.wait_client_closed(2.0), "cancel must close the HTTP stream"
    assert not runtime.get().running()


def test_deleting_the_output_text_mid_stream_stops_the_job_cleanly(server, received):
    server.enqueue("openai", synthetic(tokens=300, tokens_per_second=200))
    configure("openai/gpt-4o-mini", server.api_base("openai"))
    source = load_screenplay("Brick-and-Steel.fountain")

    def delete_output(job, batch):
        text = bpy.data.texts.get("Doomed")
        if text is not None and job.chars_received > 20:
            bpy.data.texts.remove(text)

    runtime.get().listeners.append(delete_output)
    try:
        result = bpy.ops.screenwriter.analyze_scene(text=source.name, scene=1, output="Doomed")
    finally:
        runtime.get().listeners.clear()
    assert result == {"CANCELLED"}
    assert "Doomed" not in bpy.data.texts
    assert "was deleted" in runtime.get().statuses[source.name].text  # a renamed output is followed instead
    assert source.as_string() == load_screenplay("Brick-and-Steel.fountain").as_string()


def test_rerun_keeps_the_previous_answer(server, received):
    configure("openai/gpt-4o-mini", server.api_base("openai"))
    source = load_screenplay("Brick-and-Steel.fountain")
    server.enqueue("openai", synthetic(text="first answer"), synthetic(text="second answer"))
    bpy.ops.screenwriter.analyze_scene(text=source.name, scene=1, output="Twice")
    bpy.ops.screenwriter.analyze_scene(text=source.name, scene=1, output="Twice")
    assert bpy.data.texts["Twice"].as_string() == "second answer"
    assert bpy.data.texts["Twice (previous)"].as_string() == "first answer"


def test_refuses_to_write_into_the_screenplay_or_a_foreign_text(server, received):
    configure("openai/gpt-4o-mini", server.api_base("openai"))
    source = load_screenplay("Brick-and-Steel.fountain")
    notes = bpy.data.texts.new("My Notes")
    notes.write("keep me")
    for output in (source.name, "My Notes"):
        with pytest.raises(RuntimeError):
            bpy.ops.screenwriter.analyze_scene(text=source.name, scene=1, output=output)
    assert notes.as_string() == "keep me"
    assert received() == []


def test_online_access_off_refuses_remote_endpoints_before_any_socket(server, received):
    assert bpy.app.online_access is False  # Blender as a module starts with online access off
    configure("openai/gpt-4o-mini", "https://llm.example.com/v1")
    source = load_screenplay("Brick-and-Steel.fountain")
    connects = []

    def audit(event, args):
        if event == "socket.connect":
            connects.append(args[1])

    sys.addaudithook(audit)  # audit hooks cannot be removed; this one only records
    with pytest.raises(RuntimeError) as raised:
        bpy.ops.screenwriter.analyze_scene(text=source.name, scene=1, output="Remote")
    assert "Allow Online Access" in str(raised.value)
    assert connects == []
    assert received() == []

    # A local model stays allowed with online access off: the loopback server answers.
    server.enqueue("openai", replay())
    configure("openai/gpt-4o-mini", server.api_base("openai"))
    assert bpy.ops.screenwriter.analyze_scene(text=source.name, scene=1, output="Local") == {"FINISHED"}
    assert all(addr[0] == "127.0.0.1" for addr in connects if isinstance(addr, tuple))


def test_saved_blend_keeps_the_analysis_and_no_key(server, received, tmp_path):
    server.enqueue("openai", replay())
    configure("openai/gpt-4o-mini", server.api_base("openai"))
    source = load_screenplay("Brick-and-Steel.fountain")
    bpy.ops.screenwriter.analyze_scene(text=source.name, scene=3, output="Analysis")
    path = tmp_path / "draft.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path), compress=False)
    data = path.read_bytes()
    assert expected_text("openai_chat_include_usage_gpt4.sse").encode() in data
    assert b"sk-test-openai-0000000000000000abcd" not in data
    assert received()[0].headers["authorization"] == "Bearer sk-test-openai-0000000000000000abcd"


ENABLE_PROBE = """
import sys, json
sys.path.insert(0, {repo!r})
import bpy, addon_utils
before = {{n for n in dir(bpy.types)}}
handlers = {{k: len(getattr(bpy.app.handlers, k)) for k in ("load_pre", "load_post", "save_pre")}}
addon_utils.enable("screenwriter_llm", default_set=True, handle_error=None)
enabled = {{
    "litellm_imported": "litellm" in sys.modules,
    "panel": hasattr(bpy.types, "SCREENWRITER_PT_main"),
    "settings": hasattr(bpy.types.Scene, "screenwriter"),
    "operator": hasattr(bpy.types, "SCREENWRITER_OT_analyze_scene"),
}}
addon_utils.disable("screenwriter_llm", default_set=True, handle_error=None)
after = {{n for n in dir(bpy.types)}}
print("RESULT" + json.dumps({{
    "enabled": enabled,
    "left_types": sorted(after - before),
    "settings_left": hasattr(bpy.types.Scene, "screenwriter"),
    "handlers_same": handlers == {{k: len(getattr(bpy.app.handlers, k)) for k in handlers}},
    "threads": [t.name for t in __import__("threading").enumerate() if t.name.startswith("screenwriter")],
}}))
"""


def test_enable_never_imports_litellm_and_disable_leaves_nothing_behind():
    out = subprocess.run(
        [sys.executable, "-c", ENABLE_PROBE.format(repo=str(REPO))], capture_output=True, text=True, timeout=120
    )
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT")), None)
    assert line, out.stdout + out.stderr
    result = json.loads(line[len("RESULT") :])
    assert result["enabled"] == {"litellm_imported": False, "panel": True, "settings": True, "operator": True}
    assert result["left_types"] == []
    assert result["settings_left"] is False
    assert result["handlers_same"] is True
    assert result["threads"] == []


def test_screenplays_are_found_for_this_tier():
    assert all((SCREENPLAYS / name).is_file() for name in SCRIPTS)
