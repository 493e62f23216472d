"""The story reel: one Blender scene laying the screenplay out in time (strips, markers, shot cameras).

``"<script stem> - Story Reel"`` holds, per Fountain scene, in script order and contiguous from the scene's
``frame_start``: a colour strip on channel :data:`COLOUR_CHANNEL` named ``"<N>. <heading>"`` (63 bytes at most),
a text strip with the heading above it on :data:`HEADING_CHANNEL`, and a timeline marker at its first frame.
Units: frames (the reel scene's fps, copied from the current scene), seconds, eighths of a page
(:mod:`.core.screenplay.pages`): a scene lasts ``eighths * seconds_per_page / 8`` seconds, at least one second.

Stable scene ids (:func:`scene_id`): 12 hex digits of the SHA-1 of the heading (whitespace collapsed, upper case)
and its occurrence index among equal headings (``"INT. HOUSE - DAY#0"``, ``"…#1"``), so renumbering, inserting
or removing other scenes does not change a scene's id (only a scene with the same heading inserted or removed
before it shifts its occurrence index), and editing a heading makes it a new scene. Strips carry
the id (:data:`SCENE_ID_KEY`), their role and the length the add-on last set (:data:`SET_LENGTH_KEY`): a strip
whose length differs from it was changed by hand and keeps its length unless ``reset_lengths``. Timeline
markers cannot hold custom properties (``TimelineMarker`` has none on 5.0+), so the reel scene keeps a record
(:data:`REEL_KEY`, JSON: ``{"markers": {scene id: [name, frame]}, "shots": {scene id: [[name, fraction of the
scene's length, frame], ...]}}``); markers are found again by name and frame, and shot markers follow their scene
when it moves or is retimed.

Blender moves a strip that overlaps another to a free channel, so :func:`build_story_reel` parks every strip it
must move beyond the end of everything first, then puts each where it belongs. Main thread only.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import bpy

from . import compat, texts
from .core.screenplay.stats import ScriptStats

#: Channels of the reel's colour strips and heading text strips; other channels are the user's.
COLOUR_CHANNEL = 1
HEADING_CHANNEL = 2
#: ID-property keys on the reel's strips.
SCENE_ID_KEY = "screenwriter_scene_id"
ROLE_KEY = "screenwriter_role"  # "scene" (colour strip) or "heading" (text strip)
SET_LENGTH_KEY = "screenwriter_length"  # frames, the length the add-on last gave the strip
#: ID-property keys on the reel scene: the screenplay Text's name, and the markers' record (JSON).
SOURCE_KEY = texts.SOURCE_KEY
REEL_KEY = "screenwriter_reel"
#: What the reel scene is called: ``"<script stem> - Story Reel"``.
REEL_PURPOSE = "Story Reel"
#: Blender's last frame (MAXFRAME); parking stays below it.
MAX_FRAME = 1_048_574


class ReelError(Exception):
    """The reel cannot be built or updated; the message says why. Nothing was changed."""


def scene_id(heading: str, occurrence: int) -> str:
    """The stable id of the ``occurrence``-th (0-based) scene with this ``heading`` (see the module docstring)."""
    key = " ".join(heading.split()).upper() + f"#{occurrence}"
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:12]


def scene_ids(headings: list[str]) -> list[str]:
    """:func:`scene_id` of each heading, in order."""
    seen: dict[str, int] = {}
    ids = []
    for heading in headings:
        norm = " ".join(heading.split()).upper()
        ids.append(scene_id(heading, seen.get(norm, 0)))
        seen[norm] = seen.get(norm, 0) + 1
    return ids


def strip_name(number: int, heading: str) -> str:
    """``"<N>. <heading>"`` clipped to 63 UTF-8 bytes (never inside a character)."""
    return _clip(f"{number}. {' '.join(heading.split())}", texts.MAX_NAME_BYTES)


def _clip(text: str, limit: int) -> str:
    return text.encode("utf-8")[:limit].decode("utf-8", "ignore").rstrip()


def reel_name(source_name: str) -> str:
    """The reel scene's name for the screenplay Text ``source_name`` (63 bytes at most)."""
    return texts.fit_name(texts.script_stem(source_name), f" - {REEL_PURPOSE}")


def is_reel(scene: bpy.types.Scene) -> bool:
    """True when ``scene`` is a story reel the add-on made (it carries the screenplay's name)."""
    source = scene.get(SOURCE_KEY)
    return isinstance(source, str) and scene.name == reel_name(source)


def fps_of(scene: bpy.types.Scene) -> float:
    """Frames per second of ``scene`` (``fps / fps_base``)."""
    return float(scene.render.fps) / float(scene.render.fps_base or 1.0)


def frames_for(eighths: int, seconds_per_page: float, fps: float) -> int:
    """Frames a scene of ``eighths`` lasts: ``eighths * seconds_per_page / 8`` seconds, rounded, at least one
    second's worth (and at least 1 frame)."""
    return max(1, round(fps), round(eighths * seconds_per_page / 8.0 * fps))


@dataclass
class ReelReport:
    """What :func:`build_story_reel` did. Counts of scenes; frames; ``kept``: hand-set lengths kept."""

    scene: str
    scenes: int = 0
    added: int = 0
    removed: int = 0
    retimed: int = 0
    moved: int = 0
    renamed: int = 0
    kept: int = 0
    frame_start: int = 1
    frame_end: int = 1
    frames: int = 0
    created: bool = False
    details: list[str] = field(default_factory=list)

    @property
    def changes(self) -> int:
        """Scenes added, removed, retimed, moved or renamed (0: the reel was up to date)."""
        return self.added + self.removed + self.retimed + self.moved + self.renamed

    def message(self) -> str:
        """``"3 scenes added, 1 removed, 12 retimed, 40 moved"``, or ``"0 changes"``, then the length."""
        parts: list[str] = []
        for count, what in (
            (self.added, "added"),
            (self.removed, "removed"),
            (self.retimed, "retimed"),
            (self.moved, "moved"),
            (self.renamed, "renamed"),
        ):
            if count:
                parts.append(f"{count} {what}" if parts else f"{count} scene{'s' if count != 1 else ''} {what}")
        head = ", ".join(parts) if parts else "0 changes"
        kept = f"; {self.kept} hand-set length(s) kept" if self.kept else ""
        return f"'{self.scene}': {head}{kept} ({self.scenes} scenes, {self.frames} frames)"

    def as_dict(self) -> dict[str, Any]:
        """The counts as a plain dict (the scripting API's return value)."""
        return {
            "scene": self.scene,
            "scenes": self.scenes,
            "added": self.added,
            "removed": self.removed,
            "retimed": self.retimed,
            "moved": self.moved,
            "renamed": self.renamed,
            "kept": self.kept,
            "changes": self.changes,
            "frame_start": self.frame_start,
            "frame_end": self.frame_end,
            "frames": self.frames,
            "created": self.created,
            "message": self.message(),
        }


def reel_scene(source: bpy.types.Text, current: bpy.types.Scene | None, create: bool = True) -> bpy.types.Scene | None:
    """The reel scene of ``source`` (created when ``create``; fps and resolution then copied from ``current``).

    Raises:
        ReelError: A scene of that name exists that the add-on did not make for this screenplay.
    """
    name = reel_name(source.name)
    scene = bpy.data.scenes.get(name)
    if scene is not None:
        owner = scene.get(SOURCE_KEY)
        if owner is None or owner != source.name:
            raise ReelError(
                f"A scene named '{name}' exists and is not the story reel of '{source.name}'; rename it first."
            )
        return scene
    if not create:
        return None
    scene = bpy.data.scenes.new(name)
    scene[SOURCE_KEY] = source.name
    if current is not None and current != scene:
        _copy_format(current, scene)
    return scene


def _copy_format(current: bpy.types.Scene, scene: bpy.types.Scene) -> None:
    render, target = current.render, scene.render
    target.fps, target.fps_base = render.fps, render.fps_base
    target.resolution_x, target.resolution_y = render.resolution_x, render.resolution_y
    target.resolution_percentage = render.resolution_percentage
    scene.frame_start = current.frame_start


def _record(scene: bpy.types.Scene) -> dict[str, Any]:
    try:
        data = json.loads(scene.get(REEL_KEY) or "{}")
    except ValueError:
        data = {}
    data.setdefault("markers", {})
    data.setdefault("shots", {})
    return data


def _save_record(scene: bpy.types.Scene, data: dict[str, Any]) -> None:
    scene[REEL_KEY] = json.dumps(data, sort_keys=True)


def reel_strips(scene: bpy.types.Scene) -> dict[str, dict[str, Any]]:
    """The reel's own strips: scene id -> ``{"scene": colour strip, "heading": text strip}`` (either may be
    missing). A second strip with the same id and role (a user's duplicate) is not the reel's."""
    found: dict[str, dict[str, Any]] = {}
    if scene.sequence_editor is None:
        return found
    for strip in sorted(compat.strips(scene), key=lambda s: compat.strip_span(s)[0]):
        sid, role = strip.get(SCENE_ID_KEY), strip.get(ROLE_KEY)
        if not sid or role not in ("scene", "heading"):
            continue
        found.setdefault(str(sid), {}).setdefault(str(role), strip)
    return found


def scene_ranges(scene: bpy.types.Scene) -> dict[str, tuple[int, int]]:
    """Scene id -> ``(first frame, length in frames)`` of each colour strip of the reel."""
    return {sid: compat.strip_span(parts["scene"]) for sid, parts in reel_strips(scene).items() if "scene" in parts}


def _free_frame(scene: bpy.types.Scene) -> int:
    """A frame after the end of every strip of ``scene``."""
    end = scene.frame_end
    for strip in compat.strips(scene):
        first, length = compat.strip_span(strip)
        end = max(end, first + length)
    return end + 1


def build_story_reel(
    source: bpy.types.Text,
    stats: ScriptStats,
    current: bpy.types.Scene | None,
    seconds_per_page: float = 60.0,
    reset_lengths: bool = False,
) -> ReelReport:
    """Build or update the story reel of ``source`` from its statistics (one parse: ``stats``).

    Args:
        source: The screenplay Text.
        stats: ``core.screenplay.stats.script_stats`` of its text (scenes with eighths).
        current: The scene whose fps and resolution the reel takes (None: keep the reel's).
        seconds_per_page: Screen time of one page in seconds (> 0).
        reset_lengths: Give strips whose length was changed by hand their computed length again.

    Returns:
        The :class:`ReelReport`.

    Raises:
        ReelError: No scene headings; ``seconds_per_page`` not positive; the reel's name is taken by another
            scene; the reel would end beyond Blender's last frame.
    """
    if seconds_per_page <= 0:
        raise ReelError(f"Seconds per page must be more than 0 (got {seconds_per_page}).")
    if not stats.scenes:
        raise ReelError(f"No scene headings found in '{source.name}'.")
    existed = bpy.data.scenes.get(reel_name(source.name)) is not None
    scene = reel_scene(source, current)
    assert scene is not None
    if current is not None and current != scene and existed:
        _copy_format_keep_start(current, scene)
    compat.ensure_sequence_editor(scene)
    report = ReelReport(scene=scene.name, created=not existed, scenes=len(stats.scenes))
    fps = fps_of(scene)
    ids = scene_ids([s.heading for s in stats.scenes])
    existing = reel_strips(scene)
    record = _record(scene)
    markers, shot_markers = _resolve_markers(scene, record)
    wanted = set(ids)

    # 1. Removed scenes: their strips and markers go.
    collection = compat.strips(scene)
    for sid in [sid for sid in existing if sid not in wanted]:
        for strip in existing.pop(sid).values():
            collection.remove(strip)
        report.removed += 1
    for sid in [sid for sid in record["markers"] if sid not in wanted]:
        record["markers"].pop(sid)
        _remove(scene, markers.pop(sid, None))
    for sid in [sid for sid in record["shots"] if sid not in wanted]:
        record["shots"].pop(sid)
        for marker in shot_markers.pop(sid, []):
            _remove(scene, marker)

    # 2. The layout: where each scene goes and how long it lasts.
    start = int(scene.frame_start)
    layout: list[tuple[str, int, int, bool]] = []  # id, first frame, length, retimed
    computed: dict[str, int | None] = {}  # the length the add-on sets (None: a hand-set length kept)
    cursor = start
    for sid, length in zip(ids, (s.eighths for s in stats.scenes), strict=True):
        frames = frames_for(length, seconds_per_page, fps)
        computed[sid] = frames
        colour = existing.get(sid, {}).get("scene")
        retimed = False
        if colour is not None:
            now = compat.strip_span(colour)[1]
            last_set = colour.get(SET_LENGTH_KEY)
            by_hand = last_set is not None and int(last_set) != now
            if by_hand and not reset_lengths:
                frames = now
                computed[sid] = None
                report.kept += 1
            retimed = frames != now
        layout.append((sid, cursor, frames, retimed))
        cursor += frames
    if cursor > MAX_FRAME:
        raise ReelError(f"The reel would end at frame {cursor}, beyond Blender's last frame {MAX_FRAME}.")

    # 3. Park every strip that must move or change length beyond everything, then place it.
    park = max(_free_frame(scene), cursor + 1)
    moves: list[tuple[Any, int, int, int]] = []  # strip, channel, first, length
    for sid, first, frames, _retimed in layout:
        for role, channel in (("scene", COLOUR_CHANNEL), ("heading", HEADING_CHANNEL)):
            strip = existing.get(sid, {}).get(role)
            if strip is None:
                continue
            if compat.strip_span(strip) != (first, frames) or int(strip.channel) != channel:
                moves.append((strip, channel, first, frames))
    slot = park
    for strip, channel, _first, frames in moves:
        slot_length = max(frames, compat.strip_span(strip)[1])
        if slot + slot_length > MAX_FRAME:
            raise ReelError("Not enough free frames to rearrange the reel; remove strips after its end first.")
        compat.set_strip_span(strip, slot, compat.strip_span(strip)[1])
        compat.set_strip_channel(strip, channel)
        compat.set_strip_span(strip, slot, frames)
        slot += slot_length
    moved_ids = {m[0].get(SCENE_ID_KEY) for m in moves}
    for strip, channel, first, frames in moves:
        compat.set_strip_span(strip, first, frames)
        compat.set_strip_channel(strip, channel)

    # 4. Names, new strips, lengths recorded, markers.
    renames: list[tuple[Any, str]] = []
    for number, ((sid, first, frames, retimed), info) in enumerate(zip(layout, stats.scenes, strict=True), start=1):
        name = strip_name(number, info.heading)
        parts = existing.get(sid)
        if not parts or "scene" not in parts:
            colour = compat.new_color_strip(scene, name, channel=COLOUR_CHANNEL, frame_start=first, length=frames)
            colour[SCENE_ID_KEY], colour[ROLE_KEY] = sid, "scene"
            colour.color = _colour(number)
            parts = existing.setdefault(sid, {})
            parts["scene"] = colour
            report.added += 1
        else:
            if retimed:
                report.retimed += 1
            elif sid in moved_ids:
                report.moved += 1
            if parts["scene"].name != name:
                renames.append((parts["scene"], name))
        if computed[sid] is not None:
            parts["scene"][SET_LENGTH_KEY] = frames
        label = _clip(f"{number}. {' '.join(info.heading.split())}", texts.MAX_NAME_BYTES - 7) + " (text)"
        heading = parts.get("heading")
        if heading is None:
            heading = compat.new_text_strip(
                scene, label, info.heading, channel=HEADING_CHANNEL, frame_start=first, length=frames
            )
            heading[SCENE_ID_KEY], heading[ROLE_KEY] = sid, "heading"
            parts["heading"] = heading
        else:
            if heading.text != info.heading:
                heading.text = info.heading
            if heading.name != label:
                renames.append((heading, label))
        heading[SET_LENGTH_KEY] = frames
        marker = markers.get(sid)
        if marker is None:
            marker = scene.timeline_markers.new(name, frame=first)
        else:
            if marker.name != name:
                marker.name = name
            if marker.frame != first:
                marker.frame = first
        record["markers"][sid] = [marker.name, first]
        for entry, shot_marker in zip(record["shots"].get(sid, []), shot_markers.get(sid, []), strict=False):
            if shot_marker is None:
                continue
            frame = first + min(frames - 1, round(float(entry[1]) * frames))
            if shot_marker.frame != frame:
                shot_marker.frame = frame
            entry[2:] = [frame]
    # Two-step renames, so a name another strip still holds never gets a ".001".
    for strip, _name in renames:
        strip.name = f"~{strip.get(SCENE_ID_KEY)}-{strip.get(ROLE_KEY)}"
    for strip, name in renames:
        strip.name = name
    report.renamed += len({r[0].get(SCENE_ID_KEY) for r in renames if r[0].get(ROLE_KEY) == "scene"} - moved_ids)
    _save_record(scene, record)
    if scene.frame_end != cursor - 1:
        scene.frame_end = cursor - 1
    report.frame_start, report.frame_end, report.frames = start, cursor - 1, cursor - start
    return report


def _copy_format_keep_start(current: bpy.types.Scene, scene: bpy.types.Scene) -> None:
    """fps and resolution from ``current`` (only when they differ: writing equal values is still a change)."""
    render, target = current.render, scene.render
    for attribute in ("fps", "fps_base", "resolution_x", "resolution_y", "resolution_percentage"):
        if getattr(target, attribute) != getattr(render, attribute):
            setattr(target, attribute, getattr(render, attribute))


def _colour(number: int) -> tuple[float, float, float]:
    """Alternating muted colours, so neighbouring scenes are told apart."""
    palette = ((0.35, 0.45, 0.65), (0.55, 0.40, 0.30), (0.35, 0.55, 0.40), (0.55, 0.35, 0.55))
    return palette[(number - 1) % len(palette)]


def _resolve_markers(scene: bpy.types.Scene, record: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """The markers the record names, found before anything changes: by name and frame (a name alone may be shared,
    by a user's marker or a scene with the same heading), each marker claimed once. Returns scene id -> marker,
    and scene id -> its shot markers (None where one is gone)."""
    claimed: set[int] = set()

    def find(name: str, frame: int | None) -> Any:
        candidates = [m for m in scene.timeline_markers if m.name == name and m.as_pointer() not in claimed]
        exact = [m for m in candidates if frame is None or m.frame == frame]
        pool = exact or candidates
        if not pool:
            return None
        claimed.add(pool[0].as_pointer())
        return pool[0]

    markers = {}
    for sid, entry in record["markers"].items():
        name, frame = (entry, None) if isinstance(entry, str) else (entry[0], int(entry[1]))
        found = find(name, frame)
        if found is not None:
            markers[sid] = found
    shots = {
        sid: [find(entry[0], int(entry[2]) if len(entry) > 2 else None) for entry in entries]
        for sid, entries in record["shots"].items()
    }
    return markers, shots


def _remove(scene: bpy.types.Scene, marker: Any) -> None:
    if marker is not None:
        scene.timeline_markers.remove(marker)


# --- shot cameras ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShotCamera:
    """One camera to make: object name, lens (mm), duration (seconds, for the marker spacing)."""

    name: str
    lens_mm: float
    duration_s: float


def shot_collection_name(source_name: str, scene_number: int) -> str:
    """``"<stem> - Scene N Shots"`` (63 bytes at most)."""
    return texts.fit_name(texts.script_stem(source_name), f" - Scene {scene_number} Shots")


def place_shots(
    reel: bpy.types.Scene, source_name: str, sid: str, scene_number: int, shots: list[ShotCamera]
) -> list[tuple[str, int, Any]]:
    """Make one camera per shot in the collection ``"<stem> - Scene N Shots"`` (linked into ``reel``) and a
    camera-bound marker per shot inside the scene's strip, at starts proportional to the shots' durations.
    Replaces that scene's earlier cameras and shot markers only.

    Returns:
        ``(marker name, frame, camera object)`` per shot.

    Raises:
        ReelError: The reel has no strip for the scene (build it again).
    """
    span = scene_ranges(reel).get(sid)
    if span is None:
        raise ReelError(f"The story reel '{reel.name}' has no strip for scene {scene_number}; build it again.")
    first, length = span
    record = _record(reel)
    _markers, shot_markers = _resolve_markers(reel, record)
    for marker in shot_markers.get(sid, []):
        _remove(reel, marker)
    record["shots"].pop(sid, None)
    name = shot_collection_name(source_name, scene_number)
    collection = bpy.data.collections.get(name)
    if collection is None:
        collection = bpy.data.collections.new(name)
    for obj in list(collection.objects):
        data = obj.data
        bpy.data.objects.remove(obj)
        if data is not None and data.users == 0 and isinstance(data, bpy.types.Camera):
            bpy.data.cameras.remove(data)
    if reel.collection.children.get(collection.name) is None:
        reel.collection.children.link(collection)
    total = sum(max(0.001, shot.duration_s) for shot in shots) or 1.0
    placed: list[tuple[str, int, Any]] = []
    elapsed = 0.0
    last = first - 1
    for index, shot in enumerate(shots):
        data = bpy.data.cameras.new(shot.name)
        data.lens = shot.lens_mm
        obj = bpy.data.objects.new(shot.name, data)
        obj.location = (index * 2.0, -10.0, 1.6)
        obj.rotation_euler = (1.5708, 0.0, 0.0)
        collection.objects.link(obj)
        fraction = elapsed / total
        frame = max(last + 1, first + round(fraction * length))
        frame = min(frame, first + length - 1)
        marker = reel.timeline_markers.new(shot.name, frame=frame)
        marker.camera = obj
        placed.append((marker.name, frame, obj))
        record["shots"].setdefault(sid, []).append([marker.name, (frame - first) / length, frame])
        elapsed += max(0.001, shot.duration_s)
        last = frame
    if placed and reel.camera is None:
        reel.camera = placed[0][2]
    _save_record(reel, record)
    return placed
