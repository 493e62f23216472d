"""Model discovery against endpoints that lie: real HTTP on loopback (a stdlib server per test), the real guarded
client. What a gateway, an OpenAI-compatible server and Ollama really answer is tested through the real proxy and
the provider server (tests/proxy)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from screenwriter_llm.core.jobs import discovery
from screenwriter_llm.core.jobs.discovery import DiscoveryError, fetch


class _Endpoint:
    def __init__(self) -> None:
        self.status = 200
        self.content_type = "application/json"
        self.body = b"{}"
        self.location = ""
        self.seen: list[dict[str, str]] = []


@pytest.fixture()
def endpoint() -> Iterator[tuple[_Endpoint, str]]:
    state = _Endpoint()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            state.seen.append(dict(self.headers))
            self.send_response(state.status)
            self.send_header("Content-Type", state.content_type)
            if state.location:
                self.send_header("Location", state.location)
            self.send_header("Content-Length", str(len(state.body)))
            self.end_headers()
            self.wfile.write(state.body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_gateways_list_is_read_with_its_windows_and_the_key_as_bearer(endpoint):
    state, base = endpoint
    state.body = json.dumps(
        {"data": [{"id": "studio-writer", "max_input_tokens": 200000}, {"id": "gpt-4o"}, "junk", {"id": ""}]}
    ).encode()
    listed = fetch("litellm_proxy/studio-writer", base, "sk-artist-1234", online=False)
    assert listed.ids == ("gpt-4o", "studio-writer")
    assert listed.models[1].context_window == 200000
    assert listed.models[0].input_usd_per_mtok is not None, "priced from LiteLLM's map where it knows the model"
    assert state.seen[0]["Authorization"] == "Bearer sk-artist-1234"


def test_an_ollama_list_sends_no_key(endpoint):
    state, base = endpoint
    state.body = json.dumps({"models": [{"name": "llama3.1:latest"}]}).encode()
    listed = fetch("ollama_chat/llama3.1", base, "sk-should-not-go", online=False)
    assert listed.ids == ("llama3.1:latest",) and listed.prefix == "ollama_chat/"
    assert "Authorization" not in state.seen[0]


@pytest.mark.parametrize(
    ("status", "content_type", "body", "says"),
    [
        (
            200,
            "text/html",
            b"<html><title>Sign in - Studio SSO</title></html>",
            'HTML page titled "Sign in - Studio SSO"',
        ),
        (200, "application/json", b"not json at all", "not with a list of models"),
        (200, "application/json", b'{"error": {"message": "upstream exploded"}}', "upstream exploded"),
        (502, "application/json", b'{"error": {"message": "bad gateway"}}', "refused to list its models (HTTP 502)"),
    ],
)
def test_what_is_not_a_model_list_says_what_came_back(endpoint, status, content_type, body, says):
    state, base = endpoint
    state.status, state.content_type, state.body = status, content_type, body
    with pytest.raises(DiscoveryError) as failed:
        fetch("openai/local", base + "/v1", "sk-local-1234567890", online=False)
    assert says in str(failed.value) and "sk-local-1234567890" not in str(failed.value)


def test_a_huge_answer_is_cut_off_not_read_whole(endpoint, monkeypatch):
    state, base = endpoint
    monkeypatch.setattr(discovery, "MAX_LIST_BYTES", 1000)
    state.body = b'{"data": [' + b'{"id": "m"},' * 500 + b'{"id": "z"}]}'
    with pytest.raises(DiscoveryError, match="more than 0 MiB"):
        fetch("litellm_proxy/x", base, None, online=False)


def test_a_redirect_to_another_origin_is_refused(endpoint):
    state, base = endpoint
    state.status, state.location, state.body = 307, "http://203.0.113.9/v1/models", b""
    with pytest.raises(DiscoveryError, match="redirect"):
        fetch("litellm_proxy/x", base, "sk-studio-key-abcdef", online=True)


def test_online_access_off_refuses_a_remote_endpoint_before_any_request():
    with pytest.raises(DiscoveryError, match="[Oo]nline"):
        fetch("litellm_proxy/x", "http://gateway.example.com:4000", None, online=False)
