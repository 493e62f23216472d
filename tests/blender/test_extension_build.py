"""The extension zip: built by ``scripts/build_extension.py``, accepted by Blender's validator, and installed and
enabled by Blender's own "Install from Disk" operator in a clean user profile.

Runs with the ``bpy`` wheel (5.0.1 in ``.venv``; the 4.2 LTS wheel in ``.venv-bpy42`` works too). Blender is
started in child processes: the install test needs an empty user directory, which Blender reads from
``BLENDER_USER_*`` environment variables only at start-up.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.blender

REPO = Path(__file__).resolve().parents[2]
PACKAGE_DIR = REPO / "screenwriter_llm"
BUILD_SCRIPT = REPO / "scripts" / "build_extension.py"
MANIFEST = tomllib.loads((REPO / "blender_manifest.toml").read_text(encoding="utf-8"))
ZIP_NAME = f"{MANIFEST['id']}-{MANIFEST['version']}.zip"
#: Blender's repository for extensions installed from disk, and so the extension's module path.
REPO_MODULE = "user_default"
EXT_MODULE = f"bl_ext.{REPO_MODULE}.{MANIFEST['id']}"
#: Where the child process reports its observations (one JSON line after this marker).
RESULT_MARKER = "@@SCREENWRITER-RESULT@@"
#: Blender can take a while to start and register everything on a loaded CI machine.
TIMEOUT_S = 300

# Runs inside a fresh Blender (bpy) with an empty user profile. argv[1] is the zip to install.
INSTALL_CHILD = r"""
import json
import sys

import bpy  # first: it puts Blender's own modules (addon_utils) on sys.path

import addon_utils

zip_path, ext_module, repo_module, marker = sys.argv[1:5]
seen = {"bpy_version": bpy.app.version_string}


def addon_classes():
    # Every class the add-on's modules list in their `classes` tuples (the registration convention).
    found = []
    for name, module in sorted(sys.modules.items()):
        if name == ext_module or name.startswith(ext_module + "."):
            for cls in getattr(module, "classes", ()) or ():
                if cls not in found:
                    found.append(cls)
    return found


def registered(classes):
    return sorted(cls.__name__ for cls in classes if getattr(cls, "is_registered", False))


seen["before"] = {
    "enabled": ext_module in bpy.context.preferences.addons,
    "repos": [repo.module for repo in bpy.context.preferences.extensions.repos],
    "user_extensions": bpy.utils.user_resource("EXTENSIONS"),
}
seen["install_result"] = sorted(
    bpy.ops.extensions.package_install_files(filepath=zip_path, repo=repo_module, enable_on_install=True)
)
seen["installed_dir"] = bpy.utils.user_resource("EXTENSIONS", path=repo_module + "/" + ext_module.rsplit(".", 1)[1])
classes = addon_classes()
seen["after_enable"] = {
    "enabled": ext_module in bpy.context.preferences.addons,
    "addon_utils_check": list(addon_utils.check(ext_module)),
    "module_file": getattr(sys.modules.get(ext_module), "__file__", None),
    "litellm_imported": any(name == "litellm" or name.startswith("litellm.") for name in sys.modules),
    "classes": sorted(cls.__name__ for cls in classes),
    "registered": registered(classes),
    "scene_settings": [
        name for name in ("model", "temperature", "stream", "max_tokens")
        if hasattr(bpy.types.Scene, "screenwriter") and hasattr(bpy.context.scene.screenwriter, name)
    ],
    "operators": [
        idname for idname in ("analyze_scene", "cancel")
        if hasattr(bpy.types, "SCREENWRITER_OT_" + idname)
    ],
    "has_preferences": ext_module in bpy.context.preferences.addons
    and bpy.context.preferences.addons[ext_module].preferences is not None,
}
seen["disable_result"] = sorted(bpy.ops.preferences.addon_disable(module=ext_module))
seen["after_disable"] = {
    "enabled": ext_module in bpy.context.preferences.addons,
    "registered": registered(classes),
    "scene_settings": hasattr(bpy.types.Scene, "screenwriter"),
    "litellm_imported": any(name == "litellm" or name.startswith("litellm.") for name in sys.modules),
}
print(marker + json.dumps(seen))
"""


def _load_build_script() -> ModuleType:
    """Import ``scripts/build_extension.py`` as a module, to reuse how it finds Blender's tool."""
    spec = importlib.util.spec_from_file_location("build_extension", BUILD_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _validate(zip_path: Path) -> subprocess.CompletedProcess[str]:
    """Run Blender's validator (``blender_ext.py validate`` from the bpy wheel) with Blender's tag list."""
    build_extension = _load_build_script()
    blender_ext = build_extension.find_blender_ext()
    args = [sys.executable, str(blender_ext), "validate", str(zip_path)]
    if (tags := build_extension.find_valid_tags(blender_ext)) is not None:
        args.append(f"--valid-tags={tags}")
    return subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)


@pytest.fixture(scope="module")
def built_zip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Run ``python scripts/build_extension.py --output-dir <tmp>`` as a user would; return the zip and stdout."""
    out_dir = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, str(BUILD_SCRIPT), "--output-dir", str(out_dir)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
        cwd=REPO,
    )
    assert result.returncode == 0, f"build failed:\n{result.stdout}\n{result.stderr}"
    return out_dir / ZIP_NAME, result.stdout


def test_build_writes_the_zip_and_prints_its_path_and_size(built_zip: tuple[Path, str]) -> None:
    zip_path, stdout = built_zip
    assert zip_path.is_file(), f"{ZIP_NAME} was not written; build output:\n{stdout}"
    size = zip_path.stat().st_size
    assert str(zip_path) in stdout
    assert re.search(rf"\b{size} bytes\b", stdout), f"size {size} not reported in:\n{stdout}"


def test_zip_holds_the_manifest_and_the_package_sources_without_caches(built_zip: tuple[Path, str]) -> None:
    zip_path, _ = built_zip
    with zipfile.ZipFile(zip_path) as archive:
        names = set(archive.namelist())
        packed_manifest = tomllib.loads(archive.read("blender_manifest.toml").decode("utf-8"))
    assert packed_manifest == MANIFEST
    expected_sources = {
        path.relative_to(PACKAGE_DIR).as_posix()
        for path in PACKAGE_DIR.rglob("*")
        if path.is_file()
        and "__pycache__" not in path.parts
        and path.suffix not in {".pyc", ".pyo"}
        and not any(part.startswith(".") for part in path.relative_to(PACKAGE_DIR).parts)
    }
    assert "__init__.py" in expected_sources
    assert names == expected_sources | {"blender_manifest.toml"}
    assert not [name for name in names if "__pycache__" in name or name.endswith((".pyc", ".pyo"))]


def test_blender_validator_accepts_the_zip(built_zip: tuple[Path, str]) -> None:
    zip_path, _ = built_zip
    result = _validate(zip_path)
    assert result.returncode == 0, f"validator rejected {zip_path}:\n{result.stdout}\n{result.stderr}"
    assert "Success" in result.stdout


def test_blender_validator_rejects_a_manifest_breaking_its_rules(built_zip: tuple[Path, str], tmp_path: Path) -> None:
    """Control: the same zip with a tagline ending in a period (forbidden) must fail, so the check above has teeth."""
    zip_path, _ = built_zip
    broken = tmp_path / ZIP_NAME
    with zipfile.ZipFile(zip_path) as source, zipfile.ZipFile(broken, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "blender_manifest.toml":
                text = data.decode("utf-8")
                text = text.replace(f'tagline = "{MANIFEST["tagline"]}"', f'tagline = "{MANIFEST["tagline"]}."')
                assert text != data.decode("utf-8")
                data = text.encode("utf-8")
            target.writestr(item, data)
    result = _validate(broken)
    assert result.returncode != 0
    assert "tagline" in result.stdout


def test_zip_installs_enables_and_disables_in_a_clean_blender(built_zip: tuple[Path, str], tmp_path: Path) -> None:
    zip_path, _ = built_zip
    profile = tmp_path / "blender-user"
    env = dict(os.environ)
    env.update(
        {
            "BLENDER_USER_RESOURCES": str(profile),
            "BLENDER_USER_CONFIG": str(profile / "config"),
            "BLENDER_USER_SCRIPTS": str(profile / "scripts"),
            "BLENDER_USER_EXTENSIONS": str(profile / "extensions"),
            "BLENDER_USER_DATAFILES": str(profile / "datafiles"),
        }
    )
    result = subprocess.run(
        [sys.executable, "-c", INSTALL_CHILD, str(zip_path), EXT_MODULE, REPO_MODULE, RESULT_MARKER],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
        env=env,
        cwd=tmp_path,
    )
    log = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 0, log
    lines = [line for line in result.stdout.splitlines() if line.startswith(RESULT_MARKER)]
    assert len(lines) == 1, log
    seen = json.loads(lines[0].removeprefix(RESULT_MARKER))

    # The profile really was the empty one made here, not the user's own.
    assert seen["before"]["enabled"] is False
    assert REPO_MODULE in seen["before"]["repos"]
    assert Path(seen["before"]["user_extensions"]) == profile / "extensions"

    assert seen["install_result"] == ["FINISHED"], log
    installed = Path(seen["installed_dir"])
    assert installed.is_relative_to(profile / "extensions")
    assert (installed / "__init__.py").is_file()
    assert (installed / "blender_manifest.toml").is_file()

    enabled = seen["after_enable"]
    assert enabled["enabled"] is True, log
    assert enabled["addon_utils_check"] == [True, True]
    assert Path(enabled["module_file"]).parent == installed
    assert enabled["litellm_imported"] is False, "enabling the add-on imported LiteLLM (it must load lazily)"
    assert enabled["classes"], "the add-on's modules list no classes"
    assert enabled["registered"] == enabled["classes"]
    assert enabled["scene_settings"] == ["model", "temperature", "stream", "max_tokens"]
    assert enabled["operators"] == ["analyze_scene", "cancel"]
    assert enabled["has_preferences"] is True

    assert seen["disable_result"] == ["FINISHED"], log
    disabled = seen["after_disable"]
    assert disabled["enabled"] is False
    assert disabled["registered"] == []
    assert disabled["scene_settings"] is False
    assert disabled["litellm_imported"] is False
