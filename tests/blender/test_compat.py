"""``screenwriter_llm.compat`` on the real ``bpy`` of each test tier (4.2 LTS, 5.0, 5.3): the one place that knows how
the Blender releases differ answers correctly on each, and the add-on's own code goes through it."""

from __future__ import annotations

import ast
import sys

import pytest

from tests.blender.conftest import REPO, bpy

pytestmark = pytest.mark.blender

#: Attributes that exist on some supported Blender releases only.
VERSIONED_ATTRIBUTES = {"online_access", "use_online_access", "sequences", "sequences_all", "strips", "strips_all"}


def test_blender_and_python_pairing_is_the_one_each_release_embeds() -> None:
    """4.2 LTS-5.0 embed CPython 3.11, 5.1-5.3 CPython 3.13: the tier runs each bpy on its own Python."""
    version = bpy.app.version[:2]
    assert sys.version_info[:2] == ((3, 13) if version >= (5, 1) else (3, 11)), (version, sys.version_info)


def test_online_access_follows_the_preference(addon: object) -> None:
    from screenwriter_llm import compat

    system = bpy.context.preferences.system
    before = system.use_online_access
    try:
        assert compat.set_online_access(True) is True
        assert compat.online_access() is True and bpy.app.online_access is True
        assert compat.set_online_access(False) is True
        assert compat.online_access() is False and bpy.app.online_access is False
    finally:
        system.use_online_access = before


def test_strips_collection_is_the_one_this_release_has(addon: object) -> None:
    from screenwriter_llm import compat

    scene = bpy.data.scenes.new("compat strips")
    try:
        with pytest.raises(ValueError, match="no sequence editor"):
            compat.strips(scene)
        editor = compat.ensure_sequence_editor(scene)
        assert editor == scene.sequence_editor and compat.ensure_sequence_editor(scene) == editor
        strips = compat.strips(scene)
        strip = compat.new_color_strip(scene, "colour", channel=1, frame_start=1, length=24)
        assert [s.name for s in compat.strips(scene)] == ["colour"]
        assert [s.name for s in compat.strips(scene, nested=True)] == ["colour"]
        assert strip.frame_final_duration == 24
        expected = "strips" if bpy.app.version >= (4, 4, 0) else "sequences"
        assert strips == getattr(scene.sequence_editor, expected)
    finally:
        bpy.data.scenes.remove(scene)


def test_no_other_module_tests_blender_versions_or_online_access_itself() -> None:
    """One place for the differences: the rest of the add-on (and the CLI) calls compat. Read as code (attribute
    accesses), so docstrings may still speak of them."""
    offenders = []
    for path in [*sorted((REPO / "screenwriter_llm").rglob("*.py")), REPO / "scripts" / "analyze.py"]:
        if path.name == "compat.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Attribute):
                continue
            dotted = ast.unparse(node)
            if dotted.startswith("compat."):
                continue
            if node.attr in VERSIONED_ATTRIBUTES or dotted == "bpy.app.version":
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}: {dotted}")
    assert offenders == []
