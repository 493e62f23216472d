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


def _new_effect(scene: bpy.types.Scene, name: str, kind: str, channel: int, frame_start: int, length: int) -> Any:
    """``new_effect`` of a generator strip (no inputs): ``length`` on 5.0+, ``frame_end`` (exclusive) before."""
    collection = strips(scene)
    length = max(1, int(length))
    try:
        return collection.new_effect(name=name, type=kind, channel=channel, frame_start=frame_start, length=length)
    except TypeError:
        return collection.new_effect(
            name=name, type=kind, channel=channel, frame_start=frame_start, frame_end=frame_start + length
        )


def new_text_strip(
    scene: bpy.types.Scene, name: str, text: str, *, channel: int, frame_start: int, length: int, size: float = 48.0
) -> Any:
    """Add a text strip showing ``text`` (``size``: font size in pixels at 100 % resolution) for ``length`` frames
    from ``frame_start`` on ``channel``, near the top of the frame, wrapped to the frame's width.

    The strip's type is ``TextStrip`` on 4.4+ and ``TextSequence`` before; ``new_effect`` differs as in
    :func:`new_color_strip`; the horizontal alignment is ``alignment_x`` on 4.4+, ``align_x`` before.

    Returns:
        The new strip.
    """
    strip = _new_effect(scene, name, "TEXT", channel, frame_start, length)
    strip.text = text
    strip.font_size = size
    strip.wrap_width = 0.9
    strip.location = (0.5, 0.85)
    for attribute in ("alignment_x", "align_x"):
        if hasattr(strip, attribute):
            setattr(strip, attribute, "CENTER")
            break
    if hasattr(strip, "use_box"):
        strip.use_box = True
    return strip


def strip_span(strip: Any) -> tuple[int, int]:
    """``(first frame, length in frames)`` of a strip as it shows in the timeline (its handles).

    ``left_handle`` / ``duration`` on 5.3+ (where ``frame_final_start`` is deprecated), ``frame_final_start`` /
    ``frame_final_duration`` before.
    """
    if hasattr(strip, "left_handle") and hasattr(strip, "duration"):
        return int(strip.left_handle), int(strip.duration)
    return int(strip.frame_final_start), int(strip.frame_final_duration)


def set_strip_span(strip: Any, first: int, length: int) -> None:
    """Move ``strip`` so that its first visible frame is ``first`` and make it ``length`` frames long (at least 1).

    The move goes through ``content_start`` on 5.3+ (``frame_start`` before: content and handles together), the
    length through ``duration`` on 5.3+ (``frame_final_duration`` before). Blender moves a strip that then overlaps
    another one to a free channel, so callers clear the way first (``timeline`` parks strips beyond the reel's end).
    """
    current, old_length = strip_span(strip)
    if current != first:
        start = "content_start" if hasattr(strip, "content_start") else "frame_start"  # 5.3 deprecates frame_start
        setattr(strip, start, int(getattr(strip, start)) + (int(first) - current))
    length = max(1, int(length))
    if old_length != length:
        if hasattr(strip, "left_handle") and hasattr(strip, "duration"):
            strip.duration = length
        else:
            strip.frame_final_duration = length


def set_strip_channel(strip: Any, channel: int) -> None:
    """Put ``strip`` on ``channel`` (1-128); the same property on every release (here so moves stay in one place)."""
    if int(strip.channel) != int(channel):
        strip.channel = int(channel)
