"""Fixtures for the proxy tier: the studio's gateway, a real LiteLLM Proxy (``.venv-proxy``, from
requirements/proxy.txt) started once per session in front of a loopback provider server (tests/provider_server.py).

Imports neither bpy nor the add-on, so bpy-free tests and the add-on's studio-mode tests share these fixtures.
Without ``.venv-proxy`` the tier is skipped, or fails when ``SCREENWRITER_REQUIRE_PROXY=1`` (scripts/test sets it).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

# LiteLLM clients in the tests (and the add-on's, in the studio-mode tests) use the bundled cost map, never the
# network one (set before anything imports litellm).
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from tests.gateway_server import GatewayServer, default_venv, proxy_available  # noqa: E402
from tests.provider_server import ProviderServer  # noqa: E402


def _require_proxy() -> None:
    if proxy_available():
        return
    message = f"the proxy tier needs the LiteLLM Proxy in {default_venv()} (scripts/bootstrap.sh --proxy)"
    if os.environ.get("SCREENWRITER_REQUIRE_PROXY") == "1":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def provider() -> Iterator[ProviderServer]:
    """The upstream: one loopback provider server for the session (the gateway's models route to its OpenAI route).
    Each test queues its own replies; queues are cleared after every test of this folder."""
    with ProviderServer() as srv:
        yield srv


@pytest.fixture(scope="session")
def gateway(provider: ProviderServer) -> Iterator[GatewayServer]:
    """The studio's gateway: a LiteLLM Proxy on loopback with the aliases ``studio-writer`` (openai/gpt-4.1, priced
    with model_info) and ``studio-fast`` (openai/gpt-4.1-mini), master key ``sk-studio-master``, no database, and the
    attribution callback (:meth:`GatewayServer.attribution`). Started once per session (about 10 s)."""
    _require_proxy()
    with GatewayServer(provider.base_url) as gw:
        yield gw


@pytest.fixture(autouse=True)
def _clear_provider_queues(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test's leftover queued replies must not answer the next test (only when the test used the provider)."""
    yield
    if "provider" in request.fixturenames:
        request.getfixturevalue("provider").clear_queues()
