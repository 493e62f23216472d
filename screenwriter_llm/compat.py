"""The one place that knows how the Blender releases the add-on runs on differ.

Supported: Blender 4.2 LTS to 5.3 as extensions (4.2 LTS-5.0 embed CPython 3.11, 5.1-5.3 CPython 3.13), and Blender
3.4-4.1 as a legacy add-on (Debian's 3.4 runs the window test tier). Everything else in the add-on calls these
functions instead of testing versions or attributes itself; ``tests/blender/test_compat.py`` runs them on every
``bpy`` the test tiers install (4.2 LTS, 5.0, 5.3) and ``tests/gui`` on Blender 3.4.

Differences handled here:

- ``bpy.app.online_access`` and ``Preferences.system.use_online_access`` came with extensions in 4.2; before that
  there is no such setting and going online is the user's own business (treated as allowed).
- The sequencer's strip collections were renamed in 4.4: ``Scene.sequence_editor.sequences`` (and
  ``sequences_all``) became ``strips`` (and ``strips_all``); 5.0 dropped the old names.
- ``new_effect`` took ``frame_end`` until 4.5 and takes ``length`` from 5.0 on.
"""

from __future__ import annotations

from typing import Any

import bpy


def online_access() -> bool:
    """Whether the user allows the add-on to go online (*Preferences > System > Network > Allow Online Access*).

    Returns:
        ``bpy.app.online_access`` on Blender 4.2+; True on older Blender, which has no such setting. ``bpy`` as a
        module starts with it off.
    """
    return bool(getattr(bpy.app, "online_access", True))


def set_online_access(allowed: bool) -> bool:
    """Set *Allow Online Access* for this session (the headless CLI's ``--allow-online``).

    Returns:
        True when the setting exists and was set; False on Blender before 4.2, where it does not exist (and
        :func:`online_access` is always True).
    """
    preferences = bpy.context.preferences
    system: Any = preferences.system if preferences is not None else None
    if not hasattr(system, "use_online_access"):
        return False
    system.use_online_access = allowed
    return True


def strips(scene: bpy.types.Scene, *, nested: bool = False) -> Any:
    """The collection of sequencer strips of ``scene`` (``strips`` on Blender 4.4+, ``sequences`` before).

    Args:
        scene: A scene that has a sequence editor (see :func:`ensure_sequence_editor`).
        nested: True for every strip, inside meta strips too (``strips_all`` / ``sequences_all``).

    Returns:
        The collection (it has ``new_effect``, ``new_image``, ``remove``... on the top level).

    Raises:
        ValueError: When ``scene`` has no sequence editor.
    """
    editor: Any = scene.sequence_editor  # the stubs know one release's names only
    if editor is None:
        raise ValueError(f"Scene '{scene.name}' has no sequence editor")
    if nested:
        return editor.strips_all if hasattr(editor, "strips_all") else editor.sequences_all
    return editor.strips if hasattr(editor, "strips") else editor.sequences


def ensure_sequence_editor(scene: bpy.types.Scene) -> Any:
    """``scene.sequence_editor``, created first when the scene has none."""
    if scene.sequence_editor is None:
        scene.sequence_editor_create()
    return scene.sequence_editor


def new_color_strip(scene: bpy.types.Scene, name: str, *, channel: int, frame_start: int, length: int) -> Any:
    """Add a colour strip of ``length`` frames (at least 1) starting at ``frame_start`` on ``channel``.

    ``new_effect`` takes ``length`` on Blender 5.0+ and ``frame_end`` (exclusive) before.

    Returns:
        The new strip.
    """
    collection = strips(scene)
    length = max(1, int(length))
    try:
        return collection.new_effect(name=name, type="COLOR", channel=channel, frame_start=frame_start, length=length)
    except TypeError:
        return collection.new_effect(
            name=name, type="COLOR", channel=channel, frame_start=frame_start, frame_end=frame_start + length
        )
