"""Structured outputs: the JSON a task asks for, its schema, and the checks on what comes back.

Pure Python (never imports ``bpy``; pydantic 2 comes with LiteLLM). A task with ``output = "structured"``
names one of the models here. The request carries :func:`response_format` (constrained decoding where the
provider supports it), and whatever comes back is parsed and validated by :func:`parse_structured`; on an
error the task sends one repair request (:func:`repair_messages`) and then gives up with the error.

Shapes (units: lines are 1-based screenplay lines, as ``Text.lines`` index + 1; durations in seconds)::

    shot plan  {"shots": [{"number": 1, "size": "WS", "angle": "eye level", "movement": "static",
                           "subjects": ["STEEL"], "description": "...", "first_line": 71, "last_line": 74,
                           "duration_s": 4.5}]}
    breakdown  {"items": [{"category": "prop", "name": "UMBRELLA", "line": 75}]}

Rules, and where they come from:

- Shot sizes are the standard scale from extreme close-up to extreme wide shot (ECU, CU, MCU, MS, MWS,
  WS, EWS), as taught in cinematography texts (Mascelli, *The Five C's of Cinematography*, 1965, on
  long, medium and close shots; Bowen, *Grammar of the Shot*, on the named sizes). Angle and movement are
  free text ("eye level", "low angle"; "static", "pan left", "dolly in").
- Breakdown categories follow the script-breakdown sheet of production scheduling (cast, extras, props,
  wardrobe, vehicles, special effects, visual effects, animals, set dressing: the colour-coded
  categories of Movie Magic Scheduling and of Singleton, *Film Scheduling*), one item per element.
- Shot numbers start at 1 and strictly ascend (so they are unique); ``first_line <= last_line``;
  ``0 < duration_s <= 600`` (a single shot longer than ten minutes is a mistake, not a plan). These
  checks run here, in pydantic validators, and are stated in the field descriptions, but are **not**
  JSON Schema keywords: the schema sent with ``response_format`` keeps to what every strict
  structured-output implementation accepts (objects with ``additionalProperties: false`` and all
  properties required, strings, integers, numbers, arrays, enums), since not every strict
  implementation accepts numeric bounds (``minimum``/``maximum``).
- ``response_format`` is OpenAI's ``{"type": "json_schema", "json_schema": {"name", "schema", "strict": true}}``
  form, which LiteLLM passes to OpenAI-compatible providers and translates for others (LiteLLM docs,
  "Structured Outputs (JSON Mode)"; ``litellm.supports_response_schema(model)`` tells whether a model
  takes it). For a pydantic class LiteLLM builds the same dict itself
  (``litellm.llms.base_llm.base_utils.type_to_response_format_param``); the tests check that the two agree.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

__all__ = [
    "LENS_MM",
    "MAX_SHOT_S",
    "Breakdown",
    "BreakdownCategory",
    "BreakdownItem",
    "Shot",
    "ShotPlan",
    "ShotSize",
    "StructuredOutputError",
    "json_schema",
    "parse_structured",
    "repair_messages",
    "response_format",
    "validate_breakdown",
    "validate_shot_plan",
]

Model = TypeVar("Model", bound=BaseModel)

#: The longest shot accepted, in seconds.
MAX_SHOT_S = 600.0

# Validation context key: the (first, last) 1-based lines of the scene the output must stay within.
_SCENE_LINES = "scene_lines"


class ShotSize(StrEnum):
    """Shot size, from the tightest to the widest framing: ECU extreme close-up, CU close-up, MCU medium
    close-up, MS medium shot, MWS medium wide shot, WS wide shot, EWS extreme wide shot."""

    ECU = "ECU"
    CU = "CU"
    MCU = "MCU"
    MS = "MS"
    MWS = "MWS"
    WS = "WS"
    EWS = "EWS"


#: Focal length in millimetres per shot size, for a full-frame (36 x 24 mm) sensor: Blender's default
#: camera sensor width is 36 mm, so these go into ``Camera.lens`` as they are. A rule of thumb, not a
#: standard: wide lenses for wide shots, a "normal" 50 mm for the medium shot, a portrait 85 mm for the
#: close-up and a long 135 mm for the extreme close-up, as cinematography texts present focal length
#: and shot size (Brown, *Cinematography: Theory and Practice*, on lens perspective: wide lenses
#: expand space, long lenses compress it and flatter faces). ECU 135, CU 85, MCU 65, MS 50, MWS 35,
#: WS 24, EWS 18.
LENS_MM: dict[ShotSize, float] = {
    ShotSize.ECU: 135.0,
    ShotSize.CU: 85.0,
    ShotSize.MCU: 65.0,
    ShotSize.MS: 50.0,
    ShotSize.MWS: 35.0,
    ShotSize.WS: 24.0,
    ShotSize.EWS: 18.0,
}


def _in_scene(info: ValidationInfo, first: int, last: int, what: str) -> None:
    scene = (info.context or {}).get(_SCENE_LINES)
    if scene is None:
        return
    scene_first, scene_last = scene
    if first < scene_first or last > scene_last:
        span = f"line {first}" if first == last else f"lines {first}-{last}"
        raise ValueError(f"{what} {span} is outside the scene, lines {scene_first}-{scene_last}")


class _Strict(BaseModel):
    """Unknown keys are errors (and ``additionalProperties: false`` in the schema), as strict mode requires."""

    model_config = ConfigDict(extra="forbid")


class Shot(_Strict):
    """One shot of a shot plan."""

    number: int = Field(description="Shot number: 1 for the first shot, ascending")
    size: ShotSize
    angle: str = Field(description='Camera angle, e.g. "eye level", "low angle", "high angle", "overhead"')
    movement: str = Field(description='Camera movement, e.g. "static", "pan left", "dolly in", "handheld"')
    subjects: list[str] = Field(description="Characters (as their cues are written) and objects in frame")
    description: str = Field(description="What the shot shows, in one or two sentences")
    first_line: int = Field(description="1-based screenplay line where the shot starts")
    last_line: int = Field(description="1-based screenplay line where the shot ends (>= first_line)")
    duration_s: float = Field(description="Estimated screen time in seconds, more than 0 and at most 600")

    @field_validator("number", "first_line", "last_line")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError("must be 1 or more")
        return value

    @field_validator("angle", "movement", "description")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("duration_s")
    @classmethod
    def _duration(cls, value: float) -> float:
        if not 0 < value <= MAX_SHOT_S:
            raise ValueError(f"must be more than 0 and at most {MAX_SHOT_S:g} seconds")
        return value

    @model_validator(mode="after")
    def _lines(self, info: ValidationInfo) -> Shot:
        if self.first_line > self.last_line:
            raise ValueError(f"first_line ({self.first_line}) is after last_line ({self.last_line})")
        _in_scene(info, self.first_line, self.last_line, f"shot {self.number}")
        return self


class ShotPlan(_Strict):
    """A shot plan for one scene: its shots in order."""

    shots: list[Shot] = Field(description="The shots in screen order, numbered 1, 2, 3...")

    @model_validator(mode="after")
    def _numbers(self) -> ShotPlan:
        numbers = [shot.number for shot in self.shots]
        for before, after in zip(numbers, numbers[1:], strict=False):
            if after <= before:
                raise ValueError(f"shot numbers must be unique and ascending: {after} follows {before}")
        return self


class BreakdownCategory(StrEnum):
    """Script-breakdown category: cast (speaking roles), extra (background), prop, wardrobe, vehicle,
    sfx (practical effects), vfx (visual effects), animal, set_dressing."""

    CAST = "cast"
    EXTRA = "extra"
    PROP = "prop"
    WARDROBE = "wardrobe"
    VEHICLE = "vehicle"
    SFX = "sfx"
    VFX = "vfx"
    ANIMAL = "animal"
    SET_DRESSING = "set_dressing"


class BreakdownItem(_Strict):
    """One element a scene needs."""

    category: BreakdownCategory
    name: str = Field(description="The element as the script names it, in capitals, e.g. UMBRELLA")
    line: int = Field(description="1-based screenplay line where the element first appears")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("line")
    @classmethod
    def _line(cls, value: int, info: ValidationInfo) -> int:
        if value < 1:
            raise ValueError("must be 1 or more")
        _in_scene(info, value, value, "item on")
        return value


class Breakdown(_Strict):
    """A scene breakdown: the elements it needs."""

    items: list[BreakdownItem]


class StructuredOutputError(Exception):
    """A structured answer that is not the JSON asked for.

    Attributes:
        errors: One readable line per problem: ``"shots[0].duration_s: must be more than 0 ..."``, or a
            single line when no JSON could be read at all.
        raw: The answer as received.
    """

    def __init__(self, errors: Sequence[str], raw: str = "") -> None:
        self.errors = list(errors)
        self.raw = raw
        super().__init__(self.errors_text())

    def errors_text(self) -> str:
        """The errors as a bulleted list, one ``- `` line each."""
        return "\n".join(f"- {error}" for error in self.errors)


def _location(loc: Sequence[str | int]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _readable(error: ValidationError) -> list[str]:
    lines = []
    for item in error.errors(include_url=False):
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] in ("missing", "extra_forbidden"):
            message = "missing" if item["type"] == "missing" else "not a field of this object"
        elif item["type"].endswith("_type") or item["type"].endswith("_parsing") or item["type"] == "enum":
            message += f" (got {json.dumps(item.get('input'), ensure_ascii=False)[:80]})"
        lines.append(f"{_location(item['loc'])}: {message}")
    return lines


_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_-]*)[^\n]*\n(.*?)(?:\n[ \t]*```|\Z)", re.DOTALL)


def _candidates(raw: str) -> list[str]:
    """Where the JSON may be: fenced blocks (```json first), then the text itself."""
    fences = [(label.lower(), body) for label, body in _FENCE.findall(raw)]
    ordered = [body for label, body in fences if label == "json"] + [body for label, body in fences if label != "json"]
    return [*ordered, raw]


def _decode(text: str) -> tuple[bool, Any, str | None]:
    """(found, the first JSON object in ``text`` (else its first JSON array), the first JSON error met)."""
    decoder = json.JSONDecoder()
    first_error: str | None = None
    first_array: list[Any] | None = None
    for match in list(re.finditer(r"[{\[]", text))[:64]:
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except json.JSONDecodeError as error:
            if first_error is None:
                line = text.count("\n", 0, error.pos) + 1
                column = error.pos - (text.rfind("\n", 0, error.pos) + 1) + 1
                first_error = f"not valid JSON: {error.msg} (line {line}, column {column})"
            continue
        if isinstance(value, dict):
            return True, value, None
        if first_array is None:
            first_array = value
    if first_array is not None:
        return True, first_array, None
    return False, None, first_error


def parse_structured(raw: str, model_cls: type[Model], *, context: Mapping[str, Any] | None = None) -> Model:
    """Read a model's structured answer: JSON bare, or in a fenced block (```json or ```), with or
    without prose around it, validated as ``model_cls``.

    The first fenced block labelled ``json`` is tried first, then other fenced blocks, then the whole
    answer; in each, the first ``{`` that starts valid JSON wins (a bare array only when there is no
    object: prose such as "see [1]" does not hide the JSON after it).

    Args:
        raw: The answer text.
        model_cls: The pydantic model to validate with (:class:`ShotPlan`, :class:`Breakdown`...).
        context: Optional pydantic validation context (``{"scene_lines": (first, last)}`` keeps line
            numbers within a scene; :func:`validate_shot_plan` sets it).

    Raises:
        StructuredOutputError: No JSON found (``The answer has no JSON``), invalid JSON (``The answer is
            not valid JSON: <reason> (line L, column C)``, counted within the fenced block when there is
            one), or validation errors (all of them, one line each).
    """
    json_error: str | None = None
    for candidate in _candidates(raw):
        found, value, error = _decode(candidate)
        if found:
            break
        json_error = json_error or error
    else:
        raise StructuredOutputError([f"The answer is {json_error}" if json_error else "The answer has no JSON"], raw)
    try:
        return model_cls.model_validate(value, context=dict(context) if context else None)
    except ValidationError as error:
        raise StructuredOutputError(_readable(error), raw) from error


def _validate(data: Any, model_cls: type[Model], first: int, last: int) -> Model:
    if first > last:
        raise ValueError(f"scene lines {first}-{last} are not a range")
    context = {_SCENE_LINES: (first, last)}
    if isinstance(data, str):
        return parse_structured(data, model_cls, context=context)
    if isinstance(data, BaseModel):
        data = data.model_dump(mode="json")
    try:
        return model_cls.model_validate(data, context=context)
    except ValidationError as error:
        raise StructuredOutputError(_readable(error), json.dumps(data, ensure_ascii=False, default=str)) from error


def validate_shot_plan(data: Any, scene_first_line: int, scene_last_line: int) -> ShotPlan:
    """Validate a shot plan (raw answer text, parsed JSON, or a :class:`ShotPlan`) against a scene.

    Every rule of :class:`ShotPlan`, plus: each shot's lines lie within ``scene_first_line..scene_last_line``
    (1-based, inclusive: the scene's heading line to its last line).

    Raises:
        StructuredOutputError: With every problem listed.
        ValueError: The scene range itself is empty.
    """
    return _validate(data, ShotPlan, scene_first_line, scene_last_line)


def validate_breakdown(data: Any, scene_first_line: int, scene_last_line: int) -> Breakdown:
    """Validate a breakdown like :func:`validate_shot_plan`: every item's line lies within the scene."""
    return _validate(data, Breakdown, scene_first_line, scene_last_line)


def json_schema(model_cls: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema of ``model_cls`` (pydantic's ``model_json_schema()``, draft 2020-12)."""
    return model_cls.model_json_schema()


def response_format(model_cls: type[BaseModel]) -> dict[str, Any]:
    """The ``response_format`` request parameter for ``model_cls``, in OpenAI's strict JSON-schema form::

        {"type": "json_schema", "json_schema": {"name": "ShotPlan", "schema": {...}, "strict": True}}

    Only send it when ``litellm.supports_response_schema(model)`` is true; otherwise ask for JSON in the
    prompt (with :func:`json_schema`) and rely on :func:`parse_structured`.
    """
    return {
        "type": "json_schema",
        "json_schema": {"name": model_cls.__name__, "schema": json_schema(model_cls), "strict": True},
    }


def repair_messages(
    raw: str, error: StructuredOutputError | str, schema: Mapping[str, Any] | type[BaseModel]
) -> list[dict[str, str]]:
    """The one repair request, appended to the original conversation: the previous answer as the
    assistant's turn, then a user turn with the errors and the schema, asking for corrected JSON only.

    Args:
        raw: The answer that failed.
        error: The :class:`StructuredOutputError` (or its text).
        schema: The JSON Schema (a dict) or the pydantic model it comes from.

    Returns:
        Two chat messages: ``[{"role": "assistant", ...}, {"role": "user", ...}]``.
    """
    errors = error.errors_text() if isinstance(error, StructuredOutputError) else str(error)
    schema_dict = json_schema(schema) if isinstance(schema, type) else dict(schema)
    request = (
        "Your answer could not be used: it does not match the required JSON schema.\n\n"
        f"Problems:\n{errors}\n\n"
        f"The JSON schema:\n{json.dumps(schema_dict, ensure_ascii=False, separators=(',', ':'))}\n\n"
        "Reply with the corrected JSON only: one JSON object that matches the schema, "
        "with no explanation and no Markdown code fence."
    )
    return [{"role": "assistant", "content": raw}, {"role": "user", "content": request}]
