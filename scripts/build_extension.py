"""Build the installable Screenwriter LLM extension zip with Blender's own extension tooling.

Usage (from the repository root, in the ``.venv`` made by ``scripts/bootstrap.sh``)::

    python scripts/build_extension.py                # -> dist/screenwriter_llm-<version>.zip
    python scripts/build_extension.py --output-dir /tmp/out

Steps:

1. Stage ``blender_manifest.toml`` plus the contents of ``screenwriter_llm/`` (without ``__pycache__``, ``*.pyc``
   and dot-files) in a temporary directory: that directory is the extension root Blender expects, with the
   manifest beside the package's ``__init__.py``.
2. Run ``blender_ext.py build`` on it. ``blender_ext.py`` is the command-line tool behind ``blender --command
   extension build``; the ``bpy`` wheel ships it under ``bpy/<ver>/scripts/addons_core/bl_pkg/cli/``. It needs only
   the standard library, so it runs under this interpreter without importing ``bpy`` (which would start Blender).
   Tags are checked against the list Blender itself uses (``_bpy_internal/extensions/tags.py``), as ``blender
   --command extension build`` does.
3. Run ``blender_ext.py validate`` on the written zip, the same strict check Blender applies.

The script prints the zip's path and size. It exits with status 1 and a message on stderr when anything fails:
no ``bpy`` installed, a manifest or package error, or a build/validation error reported by Blender's tool.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIR = ROOT / "screenwriter_llm"
MANIFEST_PATH = ROOT / "blender_manifest.toml"
DEFAULT_OUTPUT_DIR = ROOT / "dist"

#: Relative location of Blender's extension CLI inside ``bpy/<major.minor>/``.
BLENDER_EXT_RELPATH = Path("scripts", "addons_core", "bl_pkg", "cli", "blender_ext.py")
#: Relative location of the tag list Blender validates against, inside ``bpy/<major.minor>/``.
VALID_TAGS_RELPATH = Path("scripts", "modules", "_bpy_internal", "extensions", "tags.py")
#: Environment variable that may point at another ``blender_ext.py`` (e.g. from a Blender download).
BLENDER_EXT_ENV = "SCREENWRITER_BLENDER_EXT"

#: What never goes into the extension: byte-code caches and hidden files (editor/tool state).
STAGING_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".*")


class BuildError(Exception):
    """A build step failed; the message says which and what to do."""


def find_blender_ext(explicit: Path | None = None) -> Path:
    """Locate Blender's ``blender_ext.py`` without importing ``bpy``.

    Args:
        explicit: A path given on the command line; wins over everything else.

    Returns:
        The path of ``blender_ext.py``. Order: ``explicit``, then ``$SCREENWRITER_BLENDER_EXT``, then the installed
        ``bpy`` wheel found with :func:`importlib.util.find_spec` (the newest ``bpy/<ver>/`` if several exist).

    Raises:
        BuildError: When the given path does not exist or ``bpy`` is not installed in this interpreter.
    """
    if explicit is None and os.environ.get(BLENDER_EXT_ENV):
        explicit = Path(os.environ[BLENDER_EXT_ENV])
    if explicit is not None:
        if not explicit.is_file():
            raise BuildError(f"blender_ext.py not found at {explicit}")
        return explicit.resolve()

    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        raise BuildError(
            f"the 'bpy' package is not installed for {sys.executable}; Blender's extension tool ships inside it. "
            f"Run scripts/bootstrap.sh and use .venv/bin/python, or pass --blender-ext / set {BLENDER_EXT_ENV}."
        )
    candidates = [
        candidate
        for location in spec.submodule_search_locations
        for candidate in Path(location).glob(f"*/{BLENDER_EXT_RELPATH.as_posix()}")
    ]
    if not candidates:
        raise BuildError(
            f"bpy is installed at {list(spec.submodule_search_locations)} but has no {BLENDER_EXT_RELPATH}"
        )
    return max(candidates, key=_blender_version_key)


def _blender_version_key(blender_ext: Path) -> tuple[int, ...]:
    """Sort key: the ``<major>.<minor>`` directory a ``blender_ext.py`` lives under, e.g. ``(5, 0)``."""
    version_dir = blender_ext.parents[len(BLENDER_EXT_RELPATH.parts) - 1].name
    return tuple(int(part) for part in re.findall(r"\d+", version_dir))


def find_valid_tags(blender_ext: Path) -> Path | None:
    """Return Blender's tag list that belongs to ``blender_ext``, or None when that Blender has none."""
    version_root = blender_ext.parents[len(BLENDER_EXT_RELPATH.parts) - 1]
    tags = version_root / VALID_TAGS_RELPATH
    return tags if tags.is_file() else None


def read_manifest(path: Path = MANIFEST_PATH) -> dict[str, Any]:
    """Parse the manifest TOML.

    Raises:
        BuildError: When the file is missing, is not valid TOML, or lacks ``id``/``version``.
    """
    try:
        with path.open("rb") as handle:
            manifest = tomllib.load(handle)
    except FileNotFoundError as exc:
        raise BuildError(f"manifest not found: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise BuildError(f"manifest {path} is not valid TOML: {exc}") from exc
    for key in ("id", "version"):
        if not isinstance(manifest.get(key), str):
            raise BuildError(f"manifest {path} has no string '{key}'")
    return manifest


def check_bl_info_version(manifest: dict[str, Any], package_dir: Path = PACKAGE_DIR) -> None:
    """Check that ``bl_info["version"]`` in the package (used by legacy Blender 3.4-4.1) equals the manifest version.

    The package is read with :mod:`ast`, not imported. A package without ``bl_info`` passes.

    Raises:
        BuildError: When the package has no ``__init__.py`` or the two versions differ.
    """
    init_path = package_dir / "__init__.py"
    if not init_path.is_file():
        raise BuildError(f"{init_path} is missing: the add-on package is not there")
    tree = ast.parse(init_path.read_text(encoding="utf-8"), filename=str(init_path))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "bl_info" for target in node.targets
        ):
            bl_info = ast.literal_eval(node.value)
            bl_version = ".".join(str(part) for part in bl_info.get("version", ()))
            if bl_version and bl_version != manifest["version"]:
                raise BuildError(
                    f"version mismatch: blender_manifest.toml says {manifest['version']}, "
                    f"bl_info in {init_path.relative_to(package_dir.parent)} says {bl_version}"
                )
            return


def stage(staging_dir: Path, package_dir: Path = PACKAGE_DIR, manifest_path: Path = MANIFEST_PATH) -> None:
    """Lay out the extension root in ``staging_dir``: the package's contents plus the manifest beside them."""
    shutil.copytree(package_dir, staging_dir, ignore=STAGING_IGNORE, dirs_exist_ok=True)
    shutil.copy2(manifest_path, staging_dir / manifest_path.name)


def run_blender_ext(blender_ext: Path, *args: str) -> str:
    """Run ``blender_ext.py`` with this interpreter and return its output.

    Raises:
        BuildError: When it exits non-zero; the message carries its output (it reports errors on stdout).
    """
    command = [sys.executable, str(blender_ext), *args]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0:
        raise BuildError(f"blender_ext.py {args[0]} failed (exit status {result.returncode}):\n{output}")
    return output


def build(output_dir: Path = DEFAULT_OUTPUT_DIR, blender_ext: Path | None = None) -> Path:
    """Stage, build and validate the extension.

    Args:
        output_dir: Directory for the zip; created if missing.
        blender_ext: Path of ``blender_ext.py``; found with :func:`find_blender_ext` when None.

    Returns:
        The path of the written ``<id>-<version>.zip``, already accepted by ``blender_ext.py validate``.

    Raises:
        BuildError: On any failure (see the module docstring).
    """
    blender_ext = find_blender_ext(blender_ext)
    manifest = read_manifest()
    check_bl_info_version(manifest)
    tags_args: list[str] = []
    if (valid_tags := find_valid_tags(blender_ext)) is not None:
        tags_args = [f"--valid-tags={valid_tags}"]

    output_dir.mkdir(parents=True, exist_ok=True)
    zip_path = output_dir.resolve() / f"{manifest['id']}-{manifest['version']}.zip"
    with tempfile.TemporaryDirectory(prefix="screenwriter-ext-") as tmp:
        staging_dir = Path(tmp) / manifest["id"]
        stage(staging_dir)
        run_blender_ext(
            blender_ext, "build", f"--source-dir={staging_dir}", f"--output-filepath={zip_path}", *tags_args
        )
    run_blender_ext(blender_ext, "validate", str(zip_path), *tags_args)
    return zip_path


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the process exit status (0 on success, 1 on failure)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument(
        "--output-dir", type=Path, default=DEFAULT_OUTPUT_DIR, help="where to write the zip (default: dist/)"
    )
    parser.add_argument(
        "--blender-ext",
        type=Path,
        default=None,
        help=f"path of Blender's blender_ext.py (default: ${BLENDER_EXT_ENV}, else the one in the installed bpy)",
    )
    args = parser.parse_args(argv)
    try:
        blender_ext = find_blender_ext(args.blender_ext)
        print(f"build_extension: using {blender_ext}")
        zip_path = build(args.output_dir, blender_ext)
    except BuildError as exc:
        print(f"build_extension: error: {exc}", file=sys.stderr)
        return 1
    size = zip_path.stat().st_size
    print("build_extension: built, and Blender's validator accepts it:")
    print(f"{zip_path} ({size} bytes, {size / 1024:.1f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
