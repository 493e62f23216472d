"""Fixtures for the real-bpy tier: Blender as a Python module, the add-on enabled from this checkout,
and a loopback provider server (tests/provider_server.py) replaying real recordings."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("SCREENWRITER_SHARED") or REPO.parent / "shared")
SCREENPLAYS = SHARED / "screenplays"

# Blender's user directories (the add-on's usage ledger lives there) go to a fresh folder per test run,
# set before bpy is imported so the real ~/.config/blender is never touched.
for _name in ("BLENDER_USER_CONFIG", "BLENDER_USER_SCRIPTS", "BLENDER_USER_DATAFILES"):
    os.environ.setdefault(_name, tempfile.mkdtemp(prefix=f"screenwriter-{_name.lower()}-"))

if os.environ.get("SCREENWRITER_REQUIRE_BPY"):
    import bpy  # the test command sets this: a missing bpy fails the tier instead of skipping it
else:
    bpy = pytest.importorskip("bpy", reason="the blender tier needs bpy (pip install bpy==5.0.1)")

sys.path.insert(0, str(REPO))

from tests.provider_server import ProviderServer  # noqa: E402

ADDON = "screenwriter_llm"


def addon_threads(wait: float = 0.0) -> list[str]:
    """Names of the add-on's job threads still alive, after waiting up to ``wait`` seconds for them to end."""
    import threading
    import time

    from screenwriter_llm.core.jobs.job import THREAD_NAME_PREFIX

    deadline = time.monotonic() + wait
    while True:
        alive = [t.name for t in threading.enumerate() if t.name.startswith(THREAD_NAME_PREFIX)]
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.05)


@pytest.fixture(scope="session")
def server() -> Iterator[ProviderServer]:
    """One loopback provider server for the session; each test queues its own replies."""
    with ProviderServer() as srv:
        yield srv


@pytest.fixture()
def addon(server: ProviderServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """An empty Blender file with the add-on enabled (as Blender enables it), a dummy OpenAI and
    Anthropic key in the environment, and the server's request log cleared."""
    import addon_utils

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-openai-0000000000000000abcd")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-00000000000000000wxyz")
    bpy.ops.wm.read_homefile(use_empty=True)
    system = bpy.context.preferences.system
    if hasattr(system, "use_online_access"):  # every test starts as bpy does: online access off
        system.use_online_access = False
    module = addon_utils.enable(ADDON, default_set=True, handle_error=None)
    assert module is not None, "the add-on failed to enable"
    yield module
    addon_utils.disable(ADDON, default_set=True, handle_error=None)
    if hasattr(system, "use_online_access"):
        system.use_online_access = False


def load_screenplay(name: str) -> bpy.types.Text:
    """A Text holding ``shared/screenplays/<name>``, loaded the way Blender's Text > Open reads it."""
    text = bpy.data.texts.new(name)
    raw = (SCREENPLAYS / name).read_text(encoding="utf-8")
    text.from_string(raw.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n"))
    return text


def configure(model: str, api_base: str, stream: bool = True, temperature: float = 0.3) -> None:
    """Set the Scene settings and the add-on preference the way a user would in the sidebar."""
    settings = bpy.context.scene.screenwriter
    settings.model = model
    settings.stream = stream
    settings.temperature = temperature
    settings.max_tokens = 512
    bpy.context.preferences.addons[ADDON].preferences.api_base = api_base


class Requests:
    """The requests the server receives from now on (the server is shared by the session)."""

    def __init__(self, server: ProviderServer) -> None:
        self.server = server
        server.clear_queues()
        self.start = len(server.requests())

    def __call__(self) -> list:
        return self.server.requests()[self.start :]


@pytest.fixture()
def received(server: ProviderServer, addon: object) -> Requests:
    """Callable returning the requests the server received during this test."""
    return Requests(server)
