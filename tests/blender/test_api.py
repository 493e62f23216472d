"""The scripting API (``screenwriter_llm.api``) against the operator: the same Text from the same recorded stream,
through real bpy, real LiteLLM and the loopback server; and its errors."""

from __future__ import annotations

import bpy
import pytest

from screenwriter_llm import api
from tests.blender.conftest import configure, load_screenplay
from tests.provider_server import error, expected_text, replay

RECORDING = "openai_chat_include_usage_gpt4.sse"


def test_api_and_operator_write_the_same_text_from_the_same_stream(server, received):
    configure("openai/gpt-4o-mini", server.api_base("openai"))
    source = load_screenplay("Brick-and-Steel.fountain")
    server.enqueue("openai", replay(RECORDING), replay(RECORDING))

    assert bpy.ops.screenwriter.analyze_scene(text=source.name, scene=3, output="By Operator") == {"FINISHED"}
    pieces: list[str] = []
    answer = api.analyze_scene(source, 3, output="By API", on_text=pieces.append)

    assert isinstance(answer, api.Answer) and answer.ok
    by_operator, by_api = bpy.data.texts["By Operator"], bpy.data.texts["By API"]
    assert by_api.as_string() == by_operator.as_string() == expected_text(RECORDING)
    assert answer.content == expected_text(RECORDING) == "".join(pieces)
    assert answer.text == by_api and answer.name == "By API"
    assert answer.usage["input_tokens"] == by_operator.get("screenwriter_tokens")[0]
    assert answer.usage["output_tokens"] == by_operator.get("screenwriter_tokens")[1]
    requests = received()
    assert len(requests) == 2 and requests[0].body["messages"] == requests[1].body["messages"]


def test_api_default_output_name_and_settings_overrides(server, received):
    configure("anthropic/claude-sonnet-4-5", "http://127.0.0.1:9/unused")
    source = load_screenplay("Brick-and-Steel.fountain")
    server.enqueue("openai", replay(RECORDING))
    answer = api.analyze_scene(
        source.name, 2, model="openai/gpt-4o-mini", temperature=0.0, api_base=server.api_base("openai")
    )
    assert answer.name == "Brick-and-Steel - Scene 2 Analysis"
    [request] = received()
    assert request.body["model"] == "gpt-4o-mini" and request.body["temperature"] == 0.0
    assert bpy.context.scene.screenwriter.model == "anthropic/claude-sonnet-4-5", "the sidebar is left as it was"


def test_api_raises_before_sending_and_after_a_failure(server, received):
    configure("openai/gpt-4o-mini", server.api_base("openai"))
    source = load_screenplay("Brick-and-Steel.fountain")
    with pytest.raises(api.CommandError, match="has 8 scenes; there is no scene 99"):
        api.analyze_scene(source, 99)
    with pytest.raises(api.CommandError, match="numbered 1 to 8"):
        api.analyze_scene(source, -1)
    assert received() == []
    server.enqueue("openai", error(401))
    with pytest.raises(api.RequestFailed) as failed:
        api.analyze_scene(source, 1, output="Refused")
    assert failed.value.answer.outcome == "failed" and "OPENAI_API_KEY" in str(failed.value)
    server.enqueue("openai", error(401))
    quiet = api.analyze_scene(source, 1, output="Refused", check=False)
    assert isinstance(quiet, api.Answer) and not quiet.ok and "No answer was received" in quiet.text.as_string()


def test_api_needs_the_add_on_registered():
    import addon_utils

    addon_utils.disable("screenwriter_llm", default_set=True, handle_error=None)
    with pytest.raises(api.CommandError, match="not registered"):
        api.analyze_scene("anything", 1)
