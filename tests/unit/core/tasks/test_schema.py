"""core.tasks.schema: structured answers as models write them (bare, fenced, wrapped in prose) are read; broken
ones give every problem in readable form and one repair request; the schema is what LiteLLM itself would send."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from screenwriter_llm.core.tasks.schema import (
    LENS_MM,
    Breakdown,
    BreakdownCategory,
    ShotPlan,
    ShotSize,
    StructuredOutputError,
    json_schema,
    parse_structured,
    repair_messages,
    response_format,
    validate_breakdown,
    validate_shot_plan,
)

# Brick & Steel, scene 3 (EXT. BRICK'S POOL - DAY): lines 69-79.
SCENE = (69, 79)
PLAN: dict[str, Any] = {
    "shots": [
        {
            "number": 1,
            "size": "WS",
            "angle": "eye level",
            "movement": "static",
            "subjects": ["STEEL"],
            "description": "Steel paces by the pool, phone to his ear.",
            "first_line": 71,
            "last_line": 74,
            "duration_s": 4.5,
        },
        {
            "number": 2,
            "size": "CU",
            "angle": "low angle",
            "movement": "dolly in",
            "subjects": ["STEEL"],
            "description": "“No, everybody we’ve put away!” — his face falls.",
            "first_line": 75,
            "last_line": 78,
            "duration_s": 6,
        },
    ]
}
PLAN_JSON = json.dumps(PLAN, ensure_ascii=False, indent=2)


def shot(**changes: Any) -> dict[str, Any]:
    return {**PLAN["shots"][0], **changes}


def errors_of(raw: str, model: Any = ShotPlan) -> list[str]:
    with pytest.raises(StructuredOutputError) as caught:
        parse_structured(raw, model)
    assert str(caught.value) == caught.value.errors_text()
    assert caught.value.raw == raw
    return caught.value.errors


@pytest.mark.parametrize(
    "raw",
    [
        PLAN_JSON,
        f"```json\n{PLAN_JSON}\n```",
        f"```\n{PLAN_JSON}\n```",
        f"Here is the shot plan for the scene:\n\n```JSON\n{PLAN_JSON}\n```\n\nLet me know if you want changes.",
        f"Sure! {json.dumps(PLAN, ensure_ascii=False)} Hope this helps.",
        f"```python\nprint('not it')\n```\n```json\n{PLAN_JSON}\n```",  # the json block wins
        f"```json\n{PLAN_JSON}",  # an unclosed fence (the answer was cut after the JSON)
        f"As noted in [1], the plan: {json.dumps(PLAN)}",  # an array-looking aside before the object
    ],
)
def test_the_json_is_found_bare_fenced_or_in_prose(raw: str) -> None:
    plan = parse_structured(raw, ShotPlan)
    assert [s.number for s in plan.shots] == [1, 2]
    assert plan.shots[0].size is ShotSize.WS
    assert plan.shots[1].duration_s == 6.0
    assert plan.shots[1].description.startswith("“No, everybody we’ve put away!”")
    assert plan.model_dump(mode="json") == json.loads(json.dumps(PLAN)) | {
        "shots": [PLAN["shots"][0], {**PLAN["shots"][1], "duration_s": 6.0}]
    }


def test_every_validation_problem_is_listed_readably() -> None:
    bad = {
        "shots": [
            shot(number=0, size="XCU"),
            shot(number=2, first_line=80, last_line=75, duration_s=0),
            shot(number=2, duration_s=601, angle="  "),
            {k: v for k, v in shot(number=4).items() if k != "movement"} | {"lens": 35},
        ]
    }
    errors = errors_of(json.dumps(bad))
    assert errors == [
        "shots[0].number: must be 1 or more",
        "shots[0].size: Input should be 'ECU', 'CU', 'MCU', 'MS', 'MWS', 'WS' or 'EWS' (got \"XCU\")",
        "shots[1].duration_s: must be more than 0 and at most 600 seconds",
        "shots[2].angle: must not be empty",
        "shots[2].duration_s: must be more than 0 and at most 600 seconds",
        "shots[3].movement: missing",
        "shots[3].lens: not a field of this object",
    ]


def test_line_order_and_shot_numbers() -> None:
    assert errors_of(json.dumps({"shots": [shot(first_line=75, last_line=71)]})) == [
        "shots[0]: first_line (75) is after last_line (71)"
    ]
    assert errors_of(json.dumps({"shots": [shot(number=1), shot(number=1)]})) == [
        "(top level): shot numbers must be unique and ascending: 1 follows 1"
    ]
    assert errors_of(json.dumps({"shots": [shot(number=2), shot(number=1)]})) == [
        "(top level): shot numbers must be unique and ascending: 1 follows 2"
    ]
    # Gaps are allowed (a shot cut from the plan), and 600 s is the limit itself.
    plan = parse_structured(json.dumps({"shots": [shot(number=1), shot(number=3, duration_s=600)]}), ShotPlan)
    assert [s.number for s in plan.shots] == [1, 3]
    assert parse_structured('{"shots": []}', ShotPlan).shots == []


def test_wrong_types_say_what_came() -> None:
    assert errors_of(json.dumps({"shots": [shot(duration_s="long", subjects="STEEL")]})) == [
        'shots[0].subjects: Input should be a valid list (got "STEEL")',
        'shots[0].duration_s: Input should be a valid number, unable to parse string as a number (got "long")',
    ]
    assert errors_of("[1, 2]") == [
        "(top level): Input should be a valid dictionary or instance of ShotPlan (got [1, 2])"
    ]


def test_not_json_at_all() -> None:
    assert errors_of("I could not make a shot plan for this scene.") == ["The answer has no JSON"]
    # A trailing comma: the reason is the json module's own (CPython 3.13 words it differently from 3.11), the
    # position is counted within the fenced block.
    (error,) = errors_of('```json\n{"shots": [{"number": 1,}]}\n```')
    assert re.fullmatch(r"The answer is not valid JSON: .+ \(line 1, column 2[45]\)", error), error
    assert errors_of('Plan:\n{"shots": [\n  {"number": 1\n  "size": "WS"}]}') == [
        "The answer is not valid JSON: Expecting ',' delimiter (line 4, column 3)"
    ]


def test_shots_must_stay_within_the_scene() -> None:
    assert validate_shot_plan(PLAN, *SCENE).shots[1].last_line == 78
    assert validate_shot_plan(PLAN_JSON, *SCENE) == validate_shot_plan(ShotPlan.model_validate(PLAN), *SCENE)
    outside = {"shots": [shot(first_line=60, last_line=70), shot(number=2, first_line=79, last_line=80)]}
    with pytest.raises(StructuredOutputError) as caught:
        validate_shot_plan(outside, *SCENE)
    assert caught.value.errors == [
        "shots[0]: shot 1 lines 60-70 is outside the scene, lines 69-79",
        "shots[1]: shot 2 lines 79-80 is outside the scene, lines 69-79",
    ]
    assert json.loads(caught.value.raw) == outside
    with pytest.raises(ValueError, match="not a range"):
        validate_shot_plan(PLAN, 79, 69)
    # Without a scene, the lines are only checked for order.
    assert parse_structured(json.dumps(outside), ShotPlan).shots[0].first_line == 60


def test_breakdown() -> None:
    raw = (
        '```json\n{"items": [{"category": "prop", "name": "UMBRELLA", "line": 75},'
        ' {"category": "set_dressing", "name": "POOL LOUNGERS", "line": 71},'
        ' {"category": "cast", "name": "STEEL", "line": 73}]}\n```'
    )
    breakdown = validate_breakdown(raw, *SCENE)
    assert [item.category for item in breakdown.items] == [
        BreakdownCategory.PROP,
        BreakdownCategory.SET_DRESSING,
        BreakdownCategory.CAST,
    ]
    assert {c.value for c in BreakdownCategory} == {
        "cast", "extra", "prop", "wardrobe", "vehicle", "sfx", "vfx", "animal", "set_dressing"
    }  # fmt: skip
    with pytest.raises(StructuredOutputError) as caught:
        validate_breakdown({"items": [{"category": "costume", "name": "", "line": 90}]}, *SCENE)
    assert caught.value.errors == [
        "items[0].category: Input should be 'cast', 'extra', 'prop', 'wardrobe', 'vehicle', 'sfx', 'vfx', "
        "'animal' or 'set_dressing' (got \"costume\")",
        "items[0].name: must not be empty",
        "items[0].line: item on line 90 is outside the scene, lines 69-79",
    ]


def _objects(node: Any):
    if isinstance(node, dict):
        if node.get("type") == "object":
            yield node
        for value in node.values():
            yield from _objects(value)
    elif isinstance(node, list):
        for value in node:
            yield from _objects(value)


@pytest.mark.parametrize("model", [ShotPlan, Breakdown])
def test_the_schema_keeps_to_strict_mode(model: Any) -> None:
    schema = json_schema(model)
    assert schema == model.model_json_schema()
    objects = list(_objects(schema))
    assert len(objects) == 2
    for obj in objects:
        assert obj["additionalProperties"] is False
        assert sorted(obj["required"]) == sorted(obj["properties"])
    text = json.dumps(schema)
    for keyword in ("minimum", "maximum", "exclusiveMinimum", "default", "minLength"):
        assert f'"{keyword}"' not in text
    refs = [node for node in _all(schema) if isinstance(node, dict) and "$ref" in node]
    assert refs and all(list(node) == ["$ref"] for node in refs)  # no keyword beside a $ref


def _all(node: Any):
    yield node
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    for child in children:
        yield from _all(child)


@pytest.mark.parametrize("model", [ShotPlan, Breakdown])
def test_response_format_is_what_litellm_builds_from_the_model(model: Any) -> None:
    from screenwriter_llm.core.provider.llm import import_litellm

    import_litellm()  # offline cost map, no .env: the project's one way in
    from litellm.llms.base_llm.base_utils import type_to_response_format_param

    ours = response_format(model)
    assert ours == {
        "type": "json_schema",
        "json_schema": {"name": model.__name__, "schema": json_schema(model), "strict": True},
    }
    assert ours == type_to_response_format_param(model)
    json.dumps(ours)  # plain JSON, ready for the request body


def test_lens_table() -> None:
    assert LENS_MM == {
        ShotSize.ECU: 135,
        ShotSize.CU: 85,
        ShotSize.MCU: 65,
        ShotSize.MS: 50,
        ShotSize.MWS: 35,
        ShotSize.WS: 24,
        ShotSize.EWS: 18,
    }
    assert list(LENS_MM) == list(ShotSize)  # tightest to widest, longest lens to widest
    assert sorted(LENS_MM.values(), reverse=True) == list(LENS_MM.values())


def test_one_repair_request_then_the_fixed_answer_parses() -> None:
    raw = "Here you go:\n" + json.dumps({"shots": [shot(size="Close-up", duration_s=-1)]})
    with pytest.raises(StructuredOutputError) as caught:
        parse_structured(raw, ShotPlan)
    messages = repair_messages(raw, caught.value, ShotPlan)
    assert [m["role"] for m in messages] == ["assistant", "user"]
    assert messages[0]["content"] == raw
    request = messages[1]["content"]
    assert "- shots[0].size: Input should be 'ECU'" in request
    assert "- shots[0].duration_s: must be more than 0 and at most 600 seconds" in request
    assert json.dumps(json_schema(ShotPlan), ensure_ascii=False, separators=(",", ":")) in request
    assert "corrected JSON only" in request
    assert repair_messages(raw, "- x: missing", json_schema(ShotPlan))[1]["content"] == request.replace(
        caught.value.errors_text(), "- x: missing"
    )
    fixed = json.dumps({"shots": [shot(size="CU", duration_s=1)]})
    assert parse_structured(fixed, ShotPlan).shots[0].size is ShotSize.CU
