"""Clean install: the Linux zip, installed with Blender's own "Install from Disk" operator into a Python that has
``bpy`` and nothing else, with an empty Blender user directory, runs Analyze Scene against the loopback provider
server, with LiteLLM, fountain-py and every other dependency loaded from the wheels bundled in the zip.

Each case makes a fresh venv (once per test session, in pytest's temporary directory) holding only ``bpy`` and the
packages ``bpy`` itself requires, installed hash-checked from the project's locks: bpy 5.3.0 on CPython 3.13
(requirements/bpy53.txt, the venv made with the interpreter of ``.venv-bpy53``), bpy 5.0.1 (requirements/dev.txt) and
the 4.2 LTS bpy (requirements/bpy42.txt) on CPython 3.11. One zip serves all three. The zip is built by
``scripts/build_extension.py --platform linux-x64`` (wheels from the build's cache). Blender runs in a child process
of that venv, because Blender reads its user directories (``BLENDER_USER_*``) only at start-up; the provider server
runs here, in the test process.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.blender.conftest import SCREENPLAYS
from tests.provider_server import ProviderServer, RecordedRequest, expected_text, replay

pytestmark = pytest.mark.blender

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "scripts" / "build_extension.py"
#: bpy version -> the lock it is pinned in (with hashes for it and its own dependencies).
BPY_LOCKS = {
    "5.3.0": REPO / "requirements" / "bpy53.txt",
    "5.0.1": REPO / "requirements" / "dev.txt",
    "4.2.23": REPO / "requirements" / "bpy42.txt",
}
#: bpy version -> the interpreter its venv is made with: the CPython that Blender release embeds. A venv made from
#: another venv's interpreter is based on that venv's own base interpreter.
BPY_PYTHONS = {
    "5.3.0": REPO / ".venv-bpy53" / "bin" / "python",
    "5.0.1": Path(sys.executable),
    "4.2.23": Path(sys.executable),
}
SCREENPLAY = SCREENPLAYS / "Brick-and-Steel.fountain"
SCENE = 3
#: provider -> (model, recording replayed by the server). OpenAI first: the case the add-on is set up for by hand.
PROVIDERS = {
    "openai": ("openai/gpt-4o-mini", "openai_chat_include_usage_gpt4.sse"),
    "anthropic": ("anthropic/claude-sonnet-4-5", "anthropic_text_sonnet45.sse"),
    "ollama": ("ollama_chat/llama3.1", "ollama_chat_llama31_via_litellm.ndjson"),
}
KEYS = {"OPENAI_API_KEY": "sk-test-openai-0000000000000000abcd", "ANTHROPIC_API_KEY": "sk-ant-test-00000000000000wxyz"}
#: Import names of the add-on and of dependencies the zip bundles, none of which the bpy-only venv may provide.
MUST_BE_BUNDLED = ("screenwriter_llm", "litellm", "fountain", "openai", "httpx", "pydantic", "aiohttp", "tiktoken")
EXT_MODULE = "bl_ext.user_default.screenwriter_llm"
RESULT_MARKER = "@@SCREENWRITER-RESULT@@"
TIMEOUT_S = 600

# Runs in the bpy-only venv, in a Blender whose user profile is the test's. Phase "install" (the profile is empty):
# install the zip with Blender's operator and enable it, then save the preferences as Blender does on quit. Phase
# "restart": the next Blender session in that profile, which enables the extension from the saved preferences (and
# so no longer sees its own dependencies as importable before: only "install" checks that).
# Both run Analyze Scene for each provider given and report where the modules came from.
# argv: phase, zip path, screenplay path, scene number, JSON {provider: [model, api_base]}, JSON import names, marker.
CHILD = r"""
import importlib.util
import json
import os
import sys
import sysconfig

import bpy

phase, zip_path, screenplay_path, scene, providers, probes, marker = sys.argv[1:8]
providers = json.loads(providers)
ext = "bl_ext.user_default.screenwriter_llm"
seen = {"bpy_version": bpy.app.version_string, "sys_path": list(sys.path), "stdlib": sysconfig.get_paths()["stdlib"]}
if phase == "restart":
    # bpy as a module starts with factory preferences, where the Blender program reads userpref.blend at start-up.
    # bpy 4.2's read_userpref crashes in module mode (SIGSEGV, with any profile): there, enable the add-on instead.
    if bpy.app.version[:2] == (4, 2):
        seen["reenable"] = sorted(bpy.ops.preferences.addon_enable(module=ext))
    else:
        seen["reenable"] = sorted(bpy.ops.wm.read_userpref())
seen.update({
    "enabled_at_start": ext in bpy.context.preferences.addons,
    "importable_before": sorted(name for name in json.loads(probes) if importlib.util.find_spec(name) is not None),
    "user_extensions": bpy.utils.user_resource("EXTENSIONS"),
})
if phase == "install":
    seen["install"] = sorted(
        bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=True)
    )
seen["enabled"] = ext in bpy.context.preferences.addons
seen["addon_file"] = sys.modules[ext].__file__ if ext in sys.modules else None

with open(screenplay_path, encoding="utf-8") as handle:
    raw = handle.read()
text = bpy.data.texts.new(os.path.basename(screenplay_path))
text.from_string(raw.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n"))
before = text.as_string()

seen["analyses"] = {}
for provider, (model, api_base) in providers.items():
    bpy.context.scene.screenwriter.model = model
    bpy.context.preferences.addons[ext].preferences.api_base = api_base
    output = "Analysis " + provider
    try:
        result = sorted(bpy.ops.screenwriter.analyze_scene(text=text.name, scene=int(scene), output=output))
    except Exception as exc:  # the operator raises with the error message in background mode
        result = ["raised: " + str(exc)]
    seen["analyses"][provider] = {
        "result": result,
        "text": bpy.data.texts[output].as_string() if output in bpy.data.texts else None,
    }
seen["screenplay_unchanged"] = text.as_string() == before

site = os.path.join(
    bpy.utils.user_resource("EXTENSIONS"), ".local", "lib", "python%d.%d" % sys.version_info[:2], "site-packages"
)
seen["site_packages"] = site
provided = set()
if os.path.isdir(site):
    for entry in os.listdir(site):
        if not entry.endswith((".dist-info", ".pth")) and not entry.startswith("__"):
            provided.add(entry.split(".")[0])
seen["bundled_top_level"] = sorted(provided)
seen["module_files"] = {
    name: os.path.realpath(module.__file__)
    for name, module in sorted(sys.modules.items())
    if name.split(".")[0] in provided and getattr(module, "__file__", None)
}
import importlib.metadata
seen["distributions"] = {
    top: sorted(dists) for top, dists in importlib.metadata.packages_distributions().items()
    if top in {name.split(".")[0] for name in seen["module_files"]}
}
import litellm
import fountain

seen["litellm_file"] = os.path.realpath(litellm.__file__)
seen["fountain_file"] = os.path.realpath(fountain.__file__)
if phase == "install":
    seen["save_userpref"] = sorted(bpy.ops.wm.save_userpref())
print(marker + json.dumps(seen))
"""


def bpy_only_requirements(lock: Path) -> str:
    """The blocks of ``lock`` (a ``uv pip compile`` output with ``# via`` notes) for ``bpy`` and everything it needs,
    hashes included: the closure of ``bpy`` over the "via" edges."""
    blocks: dict[str, tuple[str, set[str]]] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", lock.read_text(encoding="utf-8")):
        match = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==", block)
        if match is None:
            continue
        requirement = block.split("\n    #", 1)[0].rstrip()
        parents = set(re.findall(r"^\s*#\s+(?:via\s+)?([A-Za-z0-9][A-Za-z0-9._-]*)\s*$", block, re.MULTILINE))
        blocks[match[1].lower()] = (requirement, {parent.lower() for parent in parents})
    wanted = {"bpy"}
    while grown := {name for name, (_, parents) in blocks.items() if name not in wanted and parents & wanted}:
        wanted |= grown
    return "\n".join(blocks[name][0] for name in sorted(wanted)) + "\n"


@pytest.fixture(scope="session")
def linux_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``python scripts/build_extension.py --platform linux-x64`` into a temporary directory; the zip's path."""
    out_dir = tmp_path_factory.mktemp("clean-install-dist")
    result = subprocess.run(
        [sys.executable, str(BUILD_SCRIPT), "--platform", "linux-x64", "--output-dir", str(out_dir)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
        cwd=REPO,
    )
    assert result.returncode == 0, f"build failed:\n{result.stdout}\n{result.stderr}"
    [zip_path] = out_dir.glob("*-linux_x64.zip")
    return zip_path


@pytest.fixture(scope="session")
def bpy_only_python(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """A function giving the interpreter of a venv with only ``bpy==<version>`` and its own requirements in it,
    made on first use in the session: no pip, no system site-packages, installed with ``pip --require-hashes``."""
    made: dict[str, Path] = {}

    def make(version: str) -> Path:
        if version in made:
            return made[version]
        root = tmp_path_factory.mktemp(f"bpy-{version}-only")
        venv = root / "venv"
        base = BPY_PYTHONS[version]
        assert base.is_file(), f"{base} is missing: run scripts/bootstrap.sh --bpy53 (it needs CPython 3.13)"
        subprocess.run([str(base), "-m", "venv", "--without-pip", str(venv)], check=True, timeout=TIMEOUT_S)
        python = venv / "bin" / "python"
        requirements = root / "requirements.txt"
        requirements.write_text(bpy_only_requirements(BPY_LOCKS[version]), encoding="utf-8")
        assert f"bpy=={version} " in requirements.read_text(encoding="utf-8")
        result = subprocess.run(
            [
                *(sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"),
                *("--disable-pip-version-check", "--require-hashes", "-r", str(requirements)),
            ],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
        )
        assert result.returncode == 0, f"installing bpy=={version} failed:\n{result.stdout}\n{result.stderr}"
        made[version] = python
        return python

    return make


def _profile_env(profile: Path) -> dict[str, str]:
    """The child's environment: this one without anything that could bring in packages, keys or settings from
    outside, with the test's Blender user profile and dummy provider keys."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}
        and not name.startswith(("BLENDER_", "LITELLM_", "SCREENWRITER_"))
        and not name.endswith("_API_KEY")
    }
    env.update(
        {
            "PYTHONNOUSERSITE": "1",
            "BLENDER_USER_RESOURCES": str(profile),
            "BLENDER_USER_CONFIG": str(profile / "config"),
            "BLENDER_USER_SCRIPTS": str(profile / "scripts"),
            "BLENDER_USER_EXTENSIONS": str(profile / "extensions"),
            "BLENDER_USER_DATAFILES": str(profile / "datafiles"),
            **KEYS,
        }
    )
    return env


def _blender_session(
    python: Path, phase: str, zip_path: Path, providers: list[str], profile: Path, cwd: Path
) -> tuple[dict[str, Any], list[RecordedRequest], str]:
    """Run one Blender session (:data:`CHILD`) against a fresh provider server replaying each provider's recording
    once; return what the child saw, the requests the server got, and the child's output for failure messages."""
    with ProviderServer() as server:
        for provider in providers:
            server.enqueue(provider, replay(PROVIDERS[provider][1]))
        models = {provider: [PROVIDERS[provider][0], server.api_base(provider)] for provider in providers}
        result = subprocess.run(
            [
                *(str(python), "-c", CHILD, phase, str(zip_path), str(SCREENPLAY), str(SCENE)),
                *(json.dumps(models), json.dumps(MUST_BE_BUNDLED), RESULT_MARKER),
            ],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
            env=_profile_env(profile),
            cwd=cwd,
        )
        requests = server.requests()
    log = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 0, log
    lines = [line for line in result.stdout.splitlines() if line.startswith(RESULT_MARKER)]
    assert len(lines) == 1, log
    return json.loads(lines[0].removeprefix(RESULT_MARKER)), requests, log


def _check_analyses(seen: dict[str, Any], requests: list[RecordedRequest], providers: list[str], log: str) -> None:
    """Analyze Scene answered verbatim for each provider, one request each, with the key from the environment."""
    for provider in providers:
        analysis = seen["analyses"][provider]
        assert analysis["result"] == ["FINISHED"], f"{provider}: {analysis}\n{log}"
        assert analysis["text"] == expected_text(PROVIDERS[provider][1]), provider
    assert seen["screenplay_unchanged"] is True
    assert [request.provider for request in requests] == providers
    for request in requests:
        if request.provider == "openai":
            assert request.path == "/v1/chat/completions"
            assert request.body["model"] == "gpt-4o-mini"
            assert request.headers["authorization"] == f"Bearer {KEYS['OPENAI_API_KEY']}"
        if request.provider == "anthropic":
            assert request.headers["x-api-key"] == KEYS["ANTHROPIC_API_KEY"]


def _norm(name: str) -> str:
    """A distribution name normalised as in PEP 503."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _modules_outside(seen: dict[str, Any], site: Path) -> dict[str, str]:
    """Modules of packages the extension's site-packages provides that were loaded from anywhere else, except
    standard-library modules re-exported under a package's name (``zipp.compat.overlay.zipfile``)."""
    stdlib = Path(seen["stdlib"]).resolve()
    return {
        name: path
        for name, path in seen["module_files"].items()
        if not Path(path).is_relative_to(site) and not Path(path).is_relative_to(stdlib)
    }


@pytest.mark.parametrize("bpy_version", sorted(BPY_LOCKS, reverse=True))
def test_linux_zip_runs_analyze_scene_on_bundled_wheels_in_a_bpy_only_python(
    bpy_version: str, linux_zip: Path, bpy_only_python: Callable[[str], Path], tmp_path: Path
) -> None:
    python = bpy_only_python(bpy_version)
    python_dir = "python3.13" if bpy_version.startswith("5.3") else "python3.11"
    profile = tmp_path / "blender-user"
    site = profile / "extensions" / ".local" / "lib" / python_dir / "site-packages"
    installed = profile / "extensions" / "user_default" / "screenwriter_llm"

    # First session: the empty profile, the zip installed with Blender's operator, an analysis per wire format.
    seen, requests, log = _blender_session(python, "install", linux_zip, list(PROVIDERS), profile, tmp_path)

    assert seen["bpy_version"].startswith(bpy_version)
    assert Path(seen["user_extensions"]) == profile / "extensions"
    assert seen["enabled_at_start"] is False
    assert seen["importable_before"] == [], "the bpy-only venv must provide neither the add-on nor its dependencies"
    assert not [path for path in seen["sys_path"] if path and Path(path).is_relative_to(REPO)]
    assert seen["install"] == ["FINISHED"], log
    assert seen["enabled"] is True, log
    assert Path(seen["addon_file"]) == installed / "__init__.py"
    assert Path(seen["site_packages"]) == site, "wheels must be unpacked where Blender keeps extension wheels"
    _check_analyses(seen, requests, list(PROVIDERS), log)

    assert Path(seen["litellm_file"]).is_relative_to(site)
    assert Path(seen["fountain_file"]).is_relative_to(site)
    assert set(MUST_BE_BUNDLED) - {"screenwriter_llm"} <= set(seen["bundled_top_level"])
    assert not {"boto3", "botocore", "tokenizers", "huggingface_hub"} & set(seen["bundled_top_level"])
    # In this first session Blender appends the site-packages it just created after the venv's, so packages bpy
    # itself requires (requests and its dependencies), which the zip bundles too, still come from the venv.
    # Compared by distribution (the "attrs" distribution is the "attr" module), names normalised as in PEP 503.
    outside = _modules_outside(seen, site)
    pins = bpy_only_requirements(BPY_LOCKS[bpy_version])
    bpy_requires = {_norm(match[1]) for match in re.finditer(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", pins, re.M)}
    outside_dists = {
        _norm(dist) for name in outside for dist in seen["distributions"].get(name.split(".")[0], [name.split(".")[0]])
    }
    assert outside_dists <= bpy_requires, outside
    assert seen["save_userpref"] == ["FINISHED"]

    # Next session in that profile: enabled from the saved preferences, and now every dependency, requests included,
    # comes from the bundled wheels.
    seen, requests, log = _blender_session(python, "restart", linux_zip, ["openai"], profile, tmp_path)

    assert seen["reenable"] == ["FINISHED"], log
    assert seen["enabled_at_start"] is True, log
    assert Path(seen["addon_file"]) == installed / "__init__.py"
    _check_analyses(seen, requests, ["openai"], log)
    assert Path(seen["litellm_file"]).is_relative_to(site)
    assert {"litellm", "requests", "urllib3"} <= {name.split(".")[0] for name in seen["module_files"]}
    assert _modules_outside(seen, site) == {}
