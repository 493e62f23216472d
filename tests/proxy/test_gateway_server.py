"""The studio's gateway (tests/gateway_server.py): a real LiteLLM Proxy in front of the loopback provider server.

What a studio relies on: the proxy lists its aliases, streams the upstream's answer verbatim, calls the upstream with
its own key and model, refuses a wrong key, and its spend-tracking callbacks see the artist (``user``) and the
request tags (the ``x-litellm-tags`` header) with a cost priced from the config's model_info.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.gateway_server import DEFAULT_MASTER_KEY, UPSTREAM_KEY, GatewayServer, build_config
from tests.provider_server import DEFAULT_RECORDINGS, ProviderServer, expected_text, expected_usage

RECORDING = DEFAULT_RECORDINGS["openai"]
# studio-writer's model_info in the gateway config (USD per token).
INPUT_RATE, OUTPUT_RATE = 0.000003, 0.000015
TAGS = "screenwriter,analyze_scene"


def _request(
    gateway: GatewayServer, path: str, body: Any = None, key: str = DEFAULT_MASTER_KEY, **headers: str
) -> urllib.request.Request:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(gateway.base_url + path, data=data, method="POST" if data else "GET")
    request.add_header("Authorization", f"Bearer {key}")
    request.add_header("Content-Type", "application/json")
    for name, value in headers.items():
        request.add_header(name.replace("_", "-"), value)
    return request


def _stream(gateway: GatewayServer, user: str, model: str = "studio-writer") -> tuple[str, dict[str, Any], dict]:
    """POST a streamed chat completion as an artist would (``user`` in the body, tags in the header), the way curl
    does; return the concatenated delta text, the final usage and the response headers."""
    body = {
        "model": model,
        "messages": [{"role": "user", "content": "Analyse this scene."}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "user": user,
    }
    request = _request(gateway, "/v1/chat/completions", body, x_litellm_tags=TAGS)
    text, usage = [], {}
    with urllib.request.urlopen(request, timeout=30) as response:
        headers = {k.lower(): v for k, v in response.headers.items()}
        for raw in response:
            line = raw.decode("utf-8").strip()
            if not line.startswith("data:") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[5:])
            for choice in chunk.get("choices") or []:
                text.append((choice.get("delta") or {}).get("content") or "")
            if chunk.get("usage"):
                usage = chunk["usage"]
    return "".join(text), usage, headers


def _record_of(gateway: GatewayServer, user: str, timeout: float = 10.0) -> dict[str, Any]:
    """The attribution record of ``user``'s request (the callback runs just after the response ends)."""
    deadline = time.monotonic() + timeout
    while True:
        records = [r for r in gateway.attribution() if r["end_user"] == user]
        if records:
            return records[-1]
        if time.monotonic() > deadline:
            raise AssertionError(f"no attribution record for {user}: {gateway.attribution()}")
        time.sleep(0.05)


def test_lists_the_aliases(gateway: GatewayServer) -> None:
    with urllib.request.urlopen(_request(gateway, "/v1/models"), timeout=10) as response:
        models = json.loads(response.read())
    assert {m["id"] for m in models["data"]} == {"studio-writer", "studio-fast"}


def test_refuses_a_wrong_key(gateway: GatewayServer, provider: ProviderServer) -> None:
    before = len(provider.requests(path="/v1/chat/completions"))
    body = {"model": "studio-writer", "messages": [{"role": "user", "content": "hi"}]}
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(_request(gateway, "/v1/chat/completions", body, key="sk-not-the-key"), timeout=10)
    # Without a database the proxy cannot look a virtual key up: 400 "No connected db." (with one: 401).
    assert caught.value.code in (400, 401)
    assert len(provider.requests(path="/v1/chat/completions")) == before


def test_streams_the_upstream_answer_verbatim(gateway: GatewayServer, provider: ProviderServer) -> None:
    user = f"artist-{uuid.uuid4().hex[:8]}"
    before = len(provider.requests(path="/v1/chat/completions"))
    text, usage, headers = _stream(gateway, user)
    assert text == expected_text(RECORDING)
    want = expected_usage(RECORDING)
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (want["prompt_tokens"], want["completion_tokens"])
    assert usage["cost"] == pytest.approx(want["prompt_tokens"] * INPUT_RATE + want["completion_tokens"] * OUTPUT_RATE)
    assert headers["x-litellm-model-group"] == "studio-writer"
    assert float(headers["x-litellm-overhead-duration-ms"]) >= 0

    # The upstream saw the proxy's request: the real model name, the upstream key (never the artist's), the user.
    upstream = provider.requests(path="/v1/chat/completions")[before:]
    assert len(upstream) == 1
    assert upstream[0].body["model"] == "gpt-4.1"
    assert upstream[0].body["stream"] is True
    assert upstream[0].body["user"] == user
    assert upstream[0].headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert upstream[0].body["messages"][-1]["content"] == "Analyse this scene."


def test_attribution_has_the_user_and_the_tags(gateway: GatewayServer) -> None:
    user = f"artist-{uuid.uuid4().hex[:8]}"
    _stream(gateway, user, model="studio-fast")
    record = _record_of(gateway, user)
    assert record["end_user"] == user
    assert record["metadata"]["user_api_key_end_user_id"] == user
    # The proxy also adds "User-Agent: ..." tags of its own.
    assert record["request_tags"][:2] == ["screenwriter", "analyze_scene"]
    assert record["model_group"] == "studio-fast"
    assert record["status"] == "success"
    assert record["stream"] is True


def test_litellm_client_through_the_gateway(gateway: GatewayServer) -> None:
    """The add-on's client, LiteLLM, as ``litellm_proxy/<alias>``: the text, the usage and the gateway's cost."""
    litellm = pytest.importorskip("litellm")
    user = f"artist-{uuid.uuid4().hex[:8]}"
    stream = litellm.completion(
        model="litellm_proxy/studio-writer",
        api_base=gateway.base_url,
        api_key=gateway.master_key,
        messages=[{"role": "user", "content": "Analyse this scene."}],
        stream=True,
        stream_options={"include_usage": True},
        user=user,
        extra_headers={"x-litellm-tags": TAGS},
    )
    pieces, usage = [], None
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        if getattr(chunk, "usage", None):
            usage = chunk.usage
    assert "".join(pieces) == expected_text(RECORDING)
    assert usage is not None and usage.completion_tokens == expected_usage(RECORDING)["completion_tokens"]
    record = _record_of(gateway, user)
    assert record["request_tags"][:2] == ["screenwriter", "analyze_scene"]
    assert record["response_cost"] == pytest.approx(
        usage.prompt_tokens * INPUT_RATE + usage.completion_tokens * OUTPUT_RATE
    )


def test_print_config_is_the_config_it_runs(gateway: GatewayServer, provider: ProviderServer) -> None:
    script = [
        sys.executable,
        str(Path(__file__).resolve().parents[1] / "gateway_server.py"),
        "--upstream",
        provider.base_url,
        "--print-config",
    ]
    printed = json.loads(subprocess.run(script, check=True, capture_output=True, text=True, timeout=30).stdout)
    assert printed == build_config(provider.base_url) == json.loads(gateway.config_path.read_text())
    assert printed["litellm_settings"]["callbacks"] == ["attribution_log.logger"]
