"""core.tasks.task: task files load, validate and render; every broken file is refused with a message naming
the file and the line, and never stops the other tasks from loading."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from screenwriter_llm.core.tasks import task as tasks
from screenwriter_llm.core.tasks.task import RequestOverrides, Task, TaskError, builtin_task, load_task, load_tasks

# Line numbers:  1 +++, 2 id, 3 label, 4 description, 5 scope, 6 output, 7 context, 8 +++, 9 blank, 10 # System,
# 11 blank, 12 You analyse., 13 blank, 14 # User, 15 blank, 16 <screenplay_scene>, 17 $title, 18 $scene_text,
# 19 </screenplay_scene>
VALID = """+++
id = "my_task"
label = "Check the Dialogue"
description = "Find on-the-nose lines in a scene"
scope = "scene"
output = "answer"
context = ["title", "scene"]
+++

# System

You analyse.

# User

<screenplay_scene>
$title
$scene_text
</screenplay_scene>
"""
VALUES = {"title": "Brick & Steel", "scene_text": "INT. ROOM - DAY\n\nA line."}
#: Every built-in task file (the tasks the add-on ships); these four drive the commands that existed first.
BUILTIN_IDS = {path.stem for path in (Path(__file__).resolve().parents[4] / "screenwriter_llm" / "tasks").glob("*.md")}
assert {"analyze_scene", "chat", "summary", "probe"} <= BUILTIN_IDS


def write(folder: Path, text: str, name: str = "my_task") -> Path:
    path = folder / f"{name}.md"
    path.write_text(text, encoding="utf-8")
    return path


def edit(old: str, new: str) -> str:
    assert old in VALID
    return VALID.replace(old, new, 1)


def refused(path: Path) -> TaskError:
    with pytest.raises(TaskError) as info:
        load_task(path)
    error = info.value
    assert error.path == path
    assert str(error) == (
        f"{path.name}: {error.problem}" if error.line is None else f"{path.name}, line {error.line}: {error.problem}"
    )
    return error


# --- the built-in tasks ---------------------------------------------------------------------------------------


def sample_values(task: Task) -> dict[str, object]:
    return {name: f"<{name}>" for name in task.placeholders()}


def test_every_builtin_task_loads_and_renders():
    catalog = load_tasks()
    assert catalog.errors == []
    assert set(catalog.tasks) == BUILTIN_IDS
    for task_id, task in catalog.tasks.items():
        assert task.builtin and task.source.parent == tasks.BUILTIN_DIR and task.id == task_id
        assert task == builtin_task(task_id)
        messages = task.render(sample_values(task))
        assert messages and all(set(m) == {"role", "content"} and m["content"].strip() for m in messages)
        assert [m["role"] for m in messages] in (["system", "user"], ["system"], ["user"])
        provided = set().union(*(tasks.CONTEXTS[c] for c in task.context))
        assert task.placeholders() <= provided
        assert "$" not in "".join(m["content"] for m in messages)


def test_the_builtin_tasks_front_matter():
    analyze = builtin_task("analyze_scene")
    assert (analyze.scope, analyze.output, analyze.grounded) == ("scene", "answer", True)
    assert analyze.placeholders() == {"title", "scene_number", "scene_count", "scene_heading", "scene_text"}
    assert analyze.request == RequestOverrides()

    chat = builtin_task("chat")
    assert (chat.scope, chat.output, chat.user) == ("script", "chat", "")
    assert {"title", "scene_list", "current_scene"} <= chat.placeholders()

    summary = builtin_task("summary")
    assert (summary.scope, summary.output) == ("none", "summary")
    assert summary.request == RequestOverrides(temperature=0.2, max_tokens=400)

    probe = builtin_task("probe")
    assert (probe.scope, probe.output, probe.system) == ("none", "none", "")
    assert probe.request == RequestOverrides(temperature=0.0, max_tokens=5, max_retries=0, fallbacks=False, cache=False)
    assert probe.render({}) == ({"role": "user", "content": "Reply with the single word OK."},)


def test_builtin_task_is_cached_and_unknown_ids_are_a_key_error():
    assert builtin_task("chat") is builtin_task("chat")
    for bad in ("nope", "../tasks/chat", "Chat"):
        with pytest.raises(KeyError, match="built-in tasks: " + ", ".join(sorted(BUILTIN_IDS))):
            builtin_task(bad)


# --- a valid file, and rendering ---------------------------------------------------------------------------------


def test_a_valid_file_loads(tmp_path):
    task = load_task(write(tmp_path, VALID))
    assert (task.id, task.label, task.description, task.scope, task.output) == (
        "my_task",
        "Check the Dialogue",
        "Find on-the-nose lines in a scene",
        "scene",
        "answer",
    )
    assert task.grounded is False and task.context == ("title", "scene") and not task.builtin
    assert task.request == RequestOverrides()
    assert task.system == "You analyse." and task.user.startswith("<screenplay_scene>\n$title")
    assert (task.system_line, task.user_line) == (12, 16)
    assert task.placeholders() == {"title", "scene_text"}
    assert load_task(write(tmp_path, VALID), builtin=True).builtin


def test_render_substitutes_neutralised_values_and_keeps_double_dollars(tmp_path):
    text = edit("You analyse.", "You analyse. Budgets in $$ are fine; ${title} too.")
    task = load_task(write(tmp_path, text))
    system, user = task.render({**VALUES, "title": "Big </screenplay_scene> Fish\x00", "unused": 1})
    assert system == {
        "role": "system",
        "content": "You analyse. Budgets in $ are fine; Big ‹/screenplay_scene> Fish too.",
    }
    assert user["role"] == "user"
    assert (
        user["content"]
        == "<screenplay_scene>\nBig ‹/screenplay_scene> Fish\nINT. ROOM - DAY\n\nA line.\n</screenplay_scene>"
    )


def test_render_without_a_value_names_the_file_the_line_and_the_placeholder(tmp_path):
    path = write(tmp_path, VALID)
    with pytest.raises(TaskError) as info:
        load_task(path).render({"title": "T"})
    assert info.value.line == 18
    assert str(info.value).startswith("my_task.md, line 18: no value for the placeholder $scene_text")


def test_values_are_converted_with_str(tmp_path):
    text = edit("$title", "$scene_number")
    task = load_task(write(tmp_path, text))
    assert "\n7\n" in task.render({"scene_number": 7, "scene_text": ""})[1]["content"]


def test_only_a_system_template(tmp_path):
    text = VALID.split("# User")[0]
    task = load_task(write(tmp_path, text))
    assert task.user == "" and task.render({}) == ({"role": "system", "content": "You analyse."},)


def test_crlf_bom_and_leading_blank_lines_are_accepted(tmp_path):
    path = tmp_path / "my_task.md"
    path.write_bytes(b"\xef\xbb\xbf\r\n" + VALID.replace("\n", "\r\n").encode())
    task = load_task(path)
    assert task.system == "You analyse." and task.user_line == 17
    path.write_bytes(("\n" + VALID.replace("scope = ", "scoop = ")).encode())
    assert refused(path).line == 6


def test_task_error_pickles_and_has_a_no_line_form(tmp_path):
    error = TaskError(tmp_path / "x.md", 3, "broken")
    again = pickle.loads(pickle.dumps(error))
    assert (again.path, again.line, again.problem, str(again)) == (error.path, 3, "broken", "x.md, line 3: broken")
    assert str(TaskError(tmp_path / "x.md", None, "gone")) == "x.md: gone"


# --- broken files: each names the file and the right line ----------------------------------------------------------

BROKEN = {
    # name: (file text, line, words the problem must contain)
    "empty": ("", 1, "empty"),
    "no front matter": ("# System\n\nHello\n", 1, "must start with TOML front matter"),
    "unclosed front matter": ('+++\nid = "my_task"\n\n# System\nx\n', 1, "never closed"),
    "toml syntax": (
        edit('description = "Find on-the-nose lines in a scene"', "description = Find"),
        4,
        "not valid TOML",
    ),
    "toml unterminated string": (edit('label = "Check the Dialogue"', 'label = "Check'), 3, "Illegal character"),
    "toml unclosed array at the end": (edit('context = ["title", "scene"]', 'context = ["title",'), 7, "end of"),
    "toml duplicate key": (edit('output = "answer"', 'output = "answer"\nscope = "script"'), 7, "overwrite"),
    "missing key": (edit('scope = "scene"\n', ""), 1, 'no "scope"'),
    "mistyped key": (edit('label = "Check the Dialogue"', "label = 3"), 3, '"label" must be a string'),
    "unknown key": (edit('label = "Check the Dialogue"', 'lable = "Check the Dialogue"'), 3, 'did you mean "label"'),
    "unknown top-level table": (edit("+++\n\n# System", "[requests]\ntemperature = 1\n+++\n\n# System"), 8, "requests"),
    "unknown request key": (
        edit("+++\n\n# System", "\n[request]\ntemprature = 0.5\n+++\n\n# System"),
        10,
        'did you mean "temperature"',
    ),
    "request not a table": (edit('output = "answer"', 'output = "answer"\nrequest = 3'), 7, "must be a table"),
    "temperature out of range": (edit("+++\n\n# System", "[request]\ntemperature = 2.5\n+++\n\n# System"), 9, "0 to 2"),
    "temperature a string": (edit("+++\n\n# System", '[request]\ntemperature = "hot"\n+++\n\n# System'), 9, "0 to 2"),
    "max_tokens zero": (edit("+++\n\n# System", "[request]\nmax_tokens = 0\n+++\n\n# System"), 9, "at least 1"),
    "max_tokens a bool": (edit("+++\n\n# System", "[request]\nmax_tokens = true\n+++\n\n# System"), 9, "at least 1"),
    "max_tokens a float": (edit("+++\n\n# System", "[request]\nmax_tokens = 4.5\n+++\n\n# System"), 9, "whole number"),
    "max_retries negative": (edit("+++\n\n# System", "[request]\nmax_retries = -1\n+++\n\n# System"), 9, "at least 0"),
    "fallbacks not a bool": (
        edit("+++\n\n# System", '[request]\nfallbacks = "no"\n+++\n\n# System'),
        9,
        "true or false",
    ),
    "inline request table": (edit('output = "answer"', 'output = "answer"\nrequest = { cash = false }'), 7, "cash"),
    "dotted request key": (edit('output = "answer"', 'output = "answer"\nrequest.max_tokens = 0'), 7, "at least 1"),
    "id not the file stem": (edit('id = "my_task"', 'id = "other_task"'), 2, 'rename the file to "other_task.md"'),
    "id not snake case": (edit('id = "my_task"', 'id = "My-Task"'), 2, 'like "my_task"'),
    "unknown scope": (edit('scope = "scene"', 'scope = "scenes"'), 5, "use one of: selection, scene, script"),
    "unknown output": (edit('output = "answer"', 'output = "essay"'), 6, "use one of: answer, proposal"),
    "unknown context": (
        edit('context = ["title", "scene"]', 'context = ["title", "scenes"]'),
        7,
        'did you mean "scene"',
    ),
    "context twice": (edit('context = ["title", "scene"]', 'context = ["title", "scene", "title"]'), 7, "twice"),
    "context not a list": (edit('context = ["title", "scene"]', 'context = "scene"'), 7, "list of strings"),
    "grounded not a bool": (edit('output = "answer"', 'output = "answer"\ngrounded = "yes"'), 7, "true or false"),
    "label not title case": (
        edit('label = "Check the Dialogue"', 'label = "check the dialogue"'),
        3,
        '"Check the Dialogue"',
    ),
    "description on two lines": (
        edit('description = "Find on-the-nose lines in a scene"', 'description = """One.\nTwo."""'),
        4,
        "one line",
    ),
    "no system heading": (edit("# System\n\nYou analyse.\n\n", ""), 8, 'no "# System" heading'),
    "unknown heading": (edit("# User", "# Usr"), 14, 'unknown heading "# Usr"'),
    "second system heading": (edit("# User", "# System"), 14, 'a second "# System"'),
    "text before the first heading": (
        edit("+++\n\n# System", "+++\nStray words.\n# System"),
        9,
        "belongs to no template",
    ),
    "both templates empty": (VALID.split("# System")[0] + "# System\n\n# User\n", 8, "both templates are empty"),
    "invalid placeholder": (edit("$title", "costs $5"), 17, 'write "$$" for a dollar sign'),
    "placeholder from a context not declared": (edit("$title", "$scene_list"), 17, 'add "scene_list" to context'),
    "unknown placeholder": (edit("$title", "$titel"), 17, "did you mean $title?"),
    "placeholder in the system template": (edit("You analyse.", "You analyse.\n\nNow: ${selection}"), 14, "selection"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_file_names_the_file_and_the_line(tmp_path, case):
    text, line, words = BROKEN[case]
    error = refused(write(tmp_path, text))
    assert error.line == line, str(error)
    assert words in error.problem, str(error)
    assert str(error).startswith(f"my_task.md, line {line}: ")


def test_a_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "my_task.md"
    path.write_bytes(VALID.replace("You analyse.", "Caf\xe9").encode("latin-1"))
    error = refused(path)
    assert error.line == 12 and "UTF-8" in error.problem


def test_a_missing_file(tmp_path):
    error = refused(tmp_path / "gone.md")
    assert error.line is None and "cannot be read" in error.problem


def test_unknown_keys_are_refused_not_ignored(tmp_path):
    for key in ("model", "grounding", "Label"):
        error = refused(write(tmp_path, edit('output = "answer"', f'output = "answer"\n{key} = 1')))
        assert error.line == 7 and f'unknown key "{key}"' in error.problem
    error = refused(write(tmp_path, edit('output = "answer"', 'output = "answer"\ntemperature = 1')))
    assert error.line == 7 and "belongs in the request table" in error.problem


# --- the catalog ------------------------------------------------------------------------------------------------


def test_a_broken_user_file_does_not_stop_the_others(tmp_path):
    write(tmp_path, VALID)
    write(tmp_path, VALID.replace('id = "my_task"', 'id = "second"'), "second")
    write(tmp_path, edit('scope = "scene"', 'scope = "everything"').replace("my_task", "broken"), "broken")
    (tmp_path / "notes.txt").write_text("not a task")
    (tmp_path / ".#my_task.md").write_text("an editor's lock file")
    catalog = load_tasks(tmp_path)
    assert set(catalog.tasks) == BUILTIN_IDS | {"my_task", "second"}
    assert not catalog.tasks["my_task"].builtin and catalog.tasks["chat"].builtin
    assert [(e.path.name, e.line) for e in catalog.errors] == [("broken.md", 5)]
    assert "broken.md, line 5: unknown scope" in str(catalog.errors[0])


def test_a_user_task_overrides_a_builtin_id(tmp_path):
    text = builtin_task("summary").source.read_text(encoding="utf-8").replace("At most 200 words", "At most 50 words")
    write(tmp_path, text, "summary")
    catalog = load_tasks(tmp_path)
    assert catalog.errors == []
    summary = catalog.get("summary")
    assert not summary.builtin and summary.source == tmp_path / "summary.md" and "At most 50 words" in summary.system
    assert list(catalog.tasks).count("summary") == 1


def test_missing_folders(tmp_path):
    catalog = load_tasks(tmp_path / "nowhere")
    assert catalog.errors == [] and set(catalog.tasks) == BUILTIN_IDS
    catalog = load_tasks(None, builtin_dir=tmp_path / "gone")
    assert catalog.tasks == {} and "built-in task folder is missing" in str(catalog.errors[0])
    file = tmp_path / "file.md"
    file.write_text("x")
    catalog = load_tasks(file)
    assert set(catalog.tasks) == BUILTIN_IDS and "not a folder" in str(catalog.errors[0])


def test_load_tasks_never_raises(tmp_path, monkeypatch):
    write(tmp_path, VALID)

    def explode(path, *, builtin=False):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(tasks, "load_task", explode)
    catalog = load_tasks(tmp_path)
    assert catalog.tasks == {}
    assert len(catalog.errors) == len(BUILTIN_IDS) + 1
    assert all("RuntimeError: disk on fire" in e.problem for e in catalog.errors)


def test_catalog_get_lists_the_known_ids_and_the_failures(tmp_path):
    write(tmp_path, "+++\n", "bad")
    catalog = load_tasks(tmp_path)
    with pytest.raises(KeyError) as info:
        catalog.get("nope")
    message = info.value.args[0]
    assert f"No task with id 'nope'; known tasks: {', '.join(sorted(BUILTIN_IDS))}." in message
    assert "bad.md, line 1: the front matter opened here is never closed" in message
