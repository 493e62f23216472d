"""The one place where screenplay text becomes prompt data.

Screenplay text (the title and the scene headings too) is data, never instructions: the task templates put it
between ``<screenplay_…>`` tags (``<screenplay_scene>`` … ``</screenplay_scene>``), and :func:`neutralise` makes
sure nothing inside a value can open or close such a block. :meth:`.task.Task.render` passes every value through
:func:`neutralise` before it fills a placeholder, so callers hand over raw text.

The helpers below build the values the built-in tasks' placeholders take from a parsed screenplay (see
``CONTEXTS`` in :mod:`.task` for which context provides which placeholder). Pure Python: never imports bpy.
"""

from __future__ import annotations

import re

from ..screenplay.fountain import Scene, Screenplay

#: The tag of the block that carries screenplay text in the built-in templates.
DATA_TAG = "screenplay_scene"
#: Every data tag the templates use starts with this (``screenplay_scene``, ``screenplay_conversation``, …).
TAG_PREFIX = "screenplay"
#: What a neutralised ``<`` becomes: SINGLE LEFT-POINTING ANGLE QUOTATION MARK, a look-alike that opens no tag.
LOOKALIKE = "\u2039"

# An opening angle bracket (ASCII, full-width or small form), then any mix of whitespace, invisible format
# characters (zero-width space/joiners, word joiner, BOM, soft hyphen) and slashes (ASCII or full-width), then
# the tag prefix in any case. Only the bracket is replaced, so the text reads the same.
_INVISIBLE = "\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff"
_TAG_OPENER = re.compile(rf"[<\uff1c\ufe64](?=[\s{_INVISIBLE}/\uff0f]*{TAG_PREFIX})", re.IGNORECASE)


def neutralise(text: str) -> str:
    """``text`` made safe to put inside a delimited data block.

    Every ``<`` that starts something a model could read as one of our tags (``<screenplay_scene>``,
    ``</SCREENPLAY_SCENE>``, ``</ screenplay_scene >``, ``< /Screenplay_Data>``, with zero-width characters or a
    full-width ``＜`` too) becomes ``‹`` (U+2039), so a line in the script can neither close the block early nor
    open a new one. NUL bytes are removed (``Text.write`` and some providers stop at them). Any other text is
    returned unchanged. Never raises for a ``str``.
    """
    return _TAG_OPENER.sub(LOOKALIKE, text.replace("\x00", ""))


#: The old name of :func:`neutralise`.
delimit = neutralise


def scene_values(screenplay: Screenplay, scene: Scene, title: str) -> dict[str, object]:
    """The values for the ``title`` and ``scene`` contexts: ``title``, ``scene_number``, ``scene_count``,
    ``scene_heading`` and ``scene_text`` (the scene's lines, heading included). Raw text: rendering
    neutralises it."""
    return {
        "title": title,
        "scene_number": scene.number,
        "scene_count": len(screenplay.scenes),
        "scene_heading": scene.heading,
        "scene_text": screenplay.scene_text(scene),
    }


def scene_list(screenplay: Screenplay, limit: int) -> str:
    """The ``scene_list`` value: ``"1. INT. KITCHEN - NIGHT"`` lines for at most ``limit`` scenes, then
    ``"… and N more"`` if there are more; ``"(no scene headings found)"`` for a script without headings."""
    listed = screenplay.scenes[: max(0, limit)]
    text = "\n".join(f"{s.number}. {s.heading}" for s in listed) or "(no scene headings found)"
    if len(screenplay.scenes) > len(listed):
        text += f"\n… and {len(screenplay.scenes) - len(listed)} more"
    return text


def current_scene_values(screenplay: Screenplay, current: Scene | None) -> dict[str, object]:
    """The values for the ``current_scene`` context: ``current_scene_label`` (``"scene 3 of 12"``, or a
    sentence saying there is none) and ``current_scene`` (its text, or ``""``)."""
    if current is None:
        return {
            "current_scene_label": "none (the cursor is not in a scene, or the writer chose not to share it)",
            "current_scene": "",
        }
    return {
        "current_scene_label": f"scene {current.number} of {len(screenplay.scenes)}",
        "current_scene": screenplay.scene_text(current),
    }
