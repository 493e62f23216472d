"""The extension zips: built by ``scripts/build_extension.py`` for every platform with the pinned wheels bundled,
accepted by Blender's validator, each carrying exactly its platform's hash-checked wheels, and installed and enabled by
Blender's own "Install from Disk" operator in a clean user profile.

Each zip serves CPython 3.11 (Blender 4.2 LTS to 5.0) and 3.13 (Blender 5.1 to 5.3): for each, exactly one wheel
per locked project installs. Runs with the ``bpy`` wheel (5.0.1 in ``.venv``; the 4.2 LTS wheel in ``.venv-bpy42``
and 5.3 in ``.venv-bpy53`` work too). Blender is
started in child processes: the install test needs an empty user directory, which Blender reads from
``BLENDER_USER_*`` environment variables only at start-up. The wheels come from the build's cache
(``build/wheels/``), downloaded from PyPI by the first build only.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shutil
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
REQUIREMENTS = REPO / "requirements"
MANIFEST = tomllib.loads((REPO / "blender_manifest.toml").read_text(encoding="utf-8"))
STEM = f"{MANIFEST['id']}-{MANIFEST['version']}"
#: The platforms Blender 4.2+ runs on that the extension ships for, and the zip each one gets.
PLATFORMS = ("linux-x64", "macos-arm64", "macos-x64", "windows-x64")
ZIP_NAMES = {platform: f"{STEM}-{platform.replace('-', '_')}.zip" for platform in PLATFORMS}
#: The CPython ABIs Blender embeds (4.2 LTS-5.0: 3.11, 5.1-5.3: 3.13); every zip carries wheels for each.
PYTHONS = ("cp311", "cp313")
#: Blender's repository for extensions installed from disk, and so the extension's module path.
REPO_MODULE = "user_default"
EXT_MODULE = f"bl_ext.{REPO_MODULE}.{MANIFEST['id']}"
#: Where the child process reports its observations (one JSON line after this marker).
RESULT_MARKER = "@@SCREENWRITER-RESULT@@"
#: Blender can take a while to start and register everything on a loaded CI machine; a first build downloads
#: about 180 MB of wheels.
TIMEOUT_S = 600

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
    sys.modules[spec.name] = module  # its dataclasses look their module up there
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


def _run_build(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python scripts/build_extension.py <args>`` from the repository root, as a user would."""
    return subprocess.run(
        [sys.executable, str(BUILD_SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
        cwd=REPO,
    )


def _name(requirement: str) -> str:
    """PEP 503 normalized project name."""
    return re.sub(r"[-_.]+", "-", requirement).lower()


def _lock(platform: str, python: str) -> dict[str, tuple[str, set[str]]]:
    """``requirements/wheels-<platform>-<python>.txt`` read independently of the build script:
    name -> (version, hashes)."""
    text = (REQUIREMENTS / f"wheels-{platform}-{python}.txt").read_text(encoding="utf-8").replace("\\\n", " ")
    pins = {}
    for line in text.splitlines():
        if match := re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", line):
            pins[_name(match[1])] = (match[2], set(re.findall(r"--hash=sha256:([0-9a-f]{64})", line)))
    return pins


def _excluded() -> set[str]:
    """Projects requirements/excludes.txt keeps out of every lock."""
    lines = (REQUIREMENTS / "excludes.txt").read_text(encoding="utf-8").splitlines()
    return {_name(line.strip()) for line in lines if line.strip() and not line.startswith("#")}


def _sources() -> set[str]:
    """The package's files as they must appear in a zip: no caches, no dot-files."""
    sources = {
        path.relative_to(PACKAGE_DIR).as_posix()
        for path in PACKAGE_DIR.rglob("*")
        if path.is_file()
        and "__pycache__" not in path.parts
        and path.suffix not in {".pyc", ".pyo"}
        and not any(part.startswith(".") for part in path.relative_to(PACKAGE_DIR).parts)
    }
    assert "__init__.py" in sources
    return sources


def _platform_tag_fits(tag: str, platform: str) -> bool:
    """Whether one wheel platform tag runs on ``platform`` with the oldest system Blender 4.2 supports there
    (glibc 2.28, macOS 11, 64-bit Windows)."""
    if tag == "any":
        return True
    if platform == "linux-x64":
        match = re.fullmatch(r"manylinux_2_(\d+)_x86_64", tag)
        return bool(match and int(match[1]) <= 28) or tag in {"manylinux2014_x86_64", "manylinux1_x86_64"}
    if platform == "windows-x64":
        return tag == "win_amd64"
    match = re.fullmatch(r"macosx_(\d+)_(\d+)_(\w+)", tag)
    arches = {"macos-arm64": {"arm64", "universal2"}, "macos-x64": {"x86_64", "universal2"}}[platform]
    return bool(match and (int(match[1]), int(match[2])) <= (11, 0) and match[3] in arches)


def _python_tag_fits(filename: str, python: str) -> bool:
    """Whether a wheel's Python and ABI tags let CPython ``python`` (``"cp313"``) load it: its own ABI, the stable ABI
    from an older CPython 3, or pure Python 3 (PEP 425; the rule Blender applies when it unpacks an extension's wheels,
    ``_extensions_wheel_filter_for_this_system`` in ``bl_pkg/bl_extension_ops.py``)."""
    *_, python_tag, abi_tag, _platforms = filename.removesuffix(".whl").split("-")
    pythons, abis, minor = python_tag.split("."), abi_tag.split("."), int(python[3:])
    return (
        (python in pythons and python in abis)
        or ("abi3" in abis and any(re.fullmatch(r"cp3\d+", tag) and int(tag[3:]) <= minor for tag in pythons))
        or ("none" in abis and "py3" in pythons)
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Path], str]:
    """Run ``python scripts/build_extension.py --output-dir <tmp>``; return each platform's zip and the stdout."""
    out_dir = tmp_path_factory.mktemp("dist")
    result = _run_build("--output-dir", str(out_dir))
    assert result.returncode == 0, f"build failed:\n{result.stdout}\n{result.stderr}"
    return {platform: out_dir / name for platform, name in ZIP_NAMES.items()}, result.stdout


def test_build_writes_one_zip_per_platform_and_prints_each_size(built: tuple[dict[str, Path], str]) -> None:
    zips, stdout = built
    assert sorted(path.name for path in zips[PLATFORMS[0]].parent.glob("*.zip")) == sorted(ZIP_NAMES.values())
    for platform, zip_path in zips.items():
        size = zip_path.stat().st_size
        line = next((line for line in stdout.splitlines() if str(zip_path) in line), None)
        assert line is not None, f"{zip_path} not reported in:\n{stdout}"
        assert line.startswith(f"{platform}:")
        assert re.search(rf"\b{size} bytes\b", line), f"size {size} not reported in: {line}"


@pytest.mark.parametrize("platform", PLATFORMS)
def test_zip_holds_manifest_sources_and_wheels_without_caches(
    built: tuple[dict[str, Path], str], platform: str
) -> None:
    zip_path = built[0][platform]
    with zipfile.ZipFile(zip_path) as archive:
        names = set(archive.namelist())
        packed = tomllib.loads(archive.read("blender_manifest.toml").decode("utf-8"))
    wheels = {name for name in names if name.startswith("wheels/")}
    assert names == _sources() | {"blender_manifest.toml"} | wheels
    assert not [name for name in names if "__pycache__" in name or name.endswith((".pyc", ".pyo"))]
    assert wheels and all(name.endswith(".whl") and name.count("/") == 1 for name in wheels)

    # The packed manifest is the repository's plus the lists the build generates from the locks.
    generated = packed.pop("build")["generated"]
    listed = packed.pop("wheels")
    assert packed.pop("platforms") == list(PLATFORMS)
    assert packed == MANIFEST
    assert "wheels" not in MANIFEST and "platforms" not in MANIFEST, "the repository's manifest stays clean"
    assert generated["platforms"] == [platform]
    assert sorted(generated["wheels"]) == sorted(f"./{name}" for name in wheels)
    assert set(generated["wheels"]) <= set(listed)


@pytest.mark.parametrize("python", PYTHONS)
@pytest.mark.parametrize("platform", PLATFORMS)
def test_each_zip_carries_exactly_its_platforms_locked_wheels_for_each_python(
    built: tuple[dict[str, Path], str], platform: str, python: str
) -> None:
    lock = _lock(platform, python)
    assert {"litellm", "fountain-py", "pydantic-core"} <= set(lock)
    with zipfile.ZipFile(built[0][platform]) as archive:
        packed = {
            Path(name).name: hashlib.sha256(archive.read(name)).hexdigest()
            for name in archive.namelist()
            if name.startswith("wheels/")
        }
    # What this Python would unpack: the wheels whose tags it accepts.
    wheels = {filename: digest for filename, digest in packed.items() if _python_tag_fits(filename, python)}
    by_project: dict[str, list[str]] = {}
    for filename in wheels:
        by_project.setdefault(_name(filename.split("-")[0]), []).append(filename)
    assert {project: files for project, files in by_project.items() if len(files) > 1} == {}, "one wheel per project"
    assert set(lock) <= set(by_project), f"missing: {sorted(set(lock) - set(by_project))}"
    assert not _excluded() & set(by_project), "requirements/excludes.txt lists packages that must not ship"
    # A compiled wheel for this very ABI (pydantic-core has no abi3 build): the zip really carries this Python's.
    assert any(f"-{python}-{python}-" in filename for filename in by_project["pydantic-core"])

    for filename, digest in wheels.items():
        name, version, *_, python_tag, abi_tag, platform_tags = filename.removesuffix(".whl").split("-")
        project = _name(name)
        if project not in lock:
            # Another platform's or Python's pure-Python wheel (colorama on Windows, backports-tarfile for 3.11):
            # Blender cannot read markers; harmless.
            assert platform_tags == "any" and abi_tag == "none", filename
            continue
        locked_version, hashes = lock[project]
        assert version == locked_version, filename
        assert digest in hashes, f"{filename}: sha256 {digest} is not in the lock"
        assert any(_platform_tag_fits(tag, platform) for tag in platform_tags.split(".")), filename
    # Every packed wheel serves one of the two Pythons.
    assert all(any(_python_tag_fits(filename, other) for other in PYTHONS) for filename in packed)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_blender_validator_accepts_each_zip(built: tuple[dict[str, Path], str], platform: str) -> None:
    zip_path = built[0][platform]
    result = _validate(zip_path)
    assert result.returncode == 0, f"validator rejected {zip_path}:\n{result.stdout}\n{result.stderr}"
    assert "Success" in result.stdout


def test_blender_validator_rejects_a_manifest_breaking_its_rules(
    built: tuple[dict[str, Path], str], tmp_path: Path
) -> None:
    """Control: the same zip with a tagline ending in a period (forbidden) must fail, so the check above has teeth."""
    zip_path = built[0]["linux-x64"]
    broken = tmp_path / zip_path.name
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


def test_a_tampered_cached_wheel_is_fetched_again_not_packed(
    built: tuple[dict[str, Path], str], tmp_path: Path
) -> None:
    """The wheel cache is checked against the lock's hashes at every build: a changed file is never shipped."""
    cache = tmp_path / "wheels"
    shutil.copytree(REPO / "build" / "wheels" / "linux-x64", cache / "linux-x64")
    victim = next(cache.glob("linux-x64/sniffio-*.whl"))
    good = hashlib.sha256(victim.read_bytes()).hexdigest()
    victim.write_bytes(victim.read_bytes() + b"tampered")

    result = _run_build("--platform", "linux-x64", "--wheel-cache", str(cache), "--output-dir", str(tmp_path))

    assert result.returncode == 0, f"build failed:\n{result.stdout}\n{result.stderr}"
    assert f"linux-x64 cp311: fetching 1 of {len(_lock('linux-x64', 'cp311'))} wheels" in result.stdout
    assert "linux-x64 cp313: fetching" not in result.stdout, "the refetched pure-Python wheel serves 3.13 too"
    with zipfile.ZipFile(tmp_path / ZIP_NAMES["linux-x64"]) as archive:
        assert hashlib.sha256(archive.read(f"wheels/{victim.name}")).hexdigest() == good


def test_no_wheels_mode_builds_one_sources_only_zip(tmp_path: Path) -> None:
    result = _run_build("--no-wheels", "--output-dir", str(tmp_path))
    assert result.returncode == 0, f"build failed:\n{result.stdout}\n{result.stderr}"
    zip_path = tmp_path / f"{STEM}.zip"
    assert [path.name for path in tmp_path.glob("*.zip")] == [zip_path.name]
    assert re.search(rf"\b{zip_path.stat().st_size} bytes\b", result.stdout)
    with zipfile.ZipFile(zip_path) as archive:
        assert set(archive.namelist()) == _sources() | {"blender_manifest.toml"}
        assert tomllib.loads(archive.read("blender_manifest.toml").decode("utf-8")) == MANIFEST
    validated = _validate(zip_path)
    assert validated.returncode == 0, validated.stdout


def test_linux_zip_installs_enables_and_disables_in_a_clean_blender(
    built: tuple[dict[str, Path], str], tmp_path: Path
) -> None:
    zip_path = built[0]["linux-x64"]
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
