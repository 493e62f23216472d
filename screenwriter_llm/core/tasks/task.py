"""Tasks as files: load and validate a task file, render its prompt templates into chat messages.

A task is a Markdown file, ``<id>.md``: TOML front matter between two ``+++`` lines (read with ``tomllib``),
then the prompt templates under a ``# System`` heading and, optionally, a ``# User`` heading::

    +++
    id = "analyze_scene"            # lowercase snake_case, the file's stem
    label = "Analyze Scene"         # Title Case: menus, F3 search
    description = "Stream a craft-level analysis of one scene into a Text"   # one sentence: the tooltip
    scope = "scene"                 # selection | scene | script | character | none
    output = "answer"               # answer | proposal | notes | structured | chat | summary | none
    grounded = true                 # optional (false): check quotations against the script afterwards
    context = ["title", "scene"]    # optional ([]): what the task needs, see CONTEXTS

    [request]                       # optional overrides of the sidebar's settings
    temperature = 0.3               # 0-2
    max_tokens = 1200               # >= 1
    max_retries = 1                 # >= 0
    fallbacks = true                # try the fallback models (default true)
    cache = true                    # answer from / store in the response cache (default true)
    +++

    # System

    You are a script consultant ...

    # User

    <screenplay_scene>
    Screenplay: $title
    $scene_text
    </screenplay_scene>

Templates use :class:`string.Template` placeholders (``$name`` or ``${name}``; ``$$`` is a literal dollar).
Every placeholder must be provided by one of the task's ``context`` entries (:data:`CONTEXTS`); other level-1
headings than ``# System`` and ``# User`` are refused (use ``##`` inside a template). A template left empty
sends no message (the connection probe has no system message; chat has no user template: its user turn is
the writer's message). Unknown keys are errors, so a typo never passes silently. Every problem is a
:class:`TaskError` naming the file, the line and what to do.

Built-in tasks live in :data:`BUILTIN_DIR`; :func:`load_tasks` adds a user folder's tasks (a user task with a
built-in id replaces it) and never raises: a broken file is reported in :attr:`TaskCatalog.errors` and the
others still load. Pure Python: never imports bpy.
"""

from __future__ import annotations

import difflib
import functools
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any

from .render import neutralise

#: The built-in task files, ``screenwriter_llm/tasks/*.md``.
BUILTIN_DIR = Path(__file__).resolve().parents[2] / "tasks"

#: What a task works on: the selected lines, the scene at the cursor, the whole script, one character, nothing.
SCOPES = ("selection", "scene", "script", "character", "none")
#: What a task produces: a streamed answer, a proposed change to the screenplay, notes, structured data (JSON),
#: a chat turn, a conversation summary, nothing kept (a connection probe).
OUTPUTS = ("answer", "proposal", "notes", "structured", "chat", "summary", "none")
#: The known ``context`` entries and the placeholders each one provides (what the runner must supply when the
#: task declares that entry). ``conversation`` also means "send the chat's earlier turns" for a chat task.
CONTEXTS: Mapping[str, frozenset[str]] = {
    "title": frozenset({"title"}),  # the script's title
    "scene": frozenset({"scene_number", "scene_count", "scene_heading", "scene_text"}),  # one scene, heading incl.
    "scene_list": frozenset({"scene_list", "scene_count"}),  # "1. INT. KITCHEN - NIGHT" lines
    "current_scene": frozenset({"current_scene", "current_scene_label"}),  # the scene at the cursor, or ""
    "selection": frozenset({"selection"}),  # the selected lines of the screenplay
    "script": frozenset({"script_text"}),  # the whole screenplay
    "character": frozenset({"character", "character_lines"}),  # a character's name and their dialogue
    "conversation": frozenset({"conversation"}),  # a chat transcript ("Writer: …" / "Consultant: …")
    "numbered_scene": frozenset({"numbered_scene_text"}),  # the scene, each line prefixed with its 1-based number
    "schema": frozenset({"output_schema"}),  # the JSON Schema a structured task's answer must match
    "instruction": frozenset({"instruction"}),  # what the writer typed (rewrite: how to rewrite)
    "before_cursor": frozenset({"before_cursor"}),  # the scene up to the cursor's paragraph (continue)
    "structure": frozenset({"structure"}),  # a named story structure ("Save the Cat!", "Three-act")
    "scene_group": frozenset({"scene_range", "scenes_text"}),  # consecutive scenes (coverage's map step)
    "summaries": frozenset({"scene_summaries"}),  # the scene summaries of a whole script (coverage)
    "findings": frozenset({"findings"}),  # the parser's format findings (format check)
}

_REQUIRED = ("id", "label", "description", "scope", "output")
_OPTIONAL = ("grounded", "context", "request")
_REQUEST_KEYS = ("temperature", "max_tokens", "max_retries", "fallbacks", "cache")
_FENCE = "+++"
_SECTIONS = ("system", "user")
_ID = re.compile(r"[a-z][a-z0-9_]*")
_HEADING = re.compile(r"#[ \t]+(.*?)[ \t]*")  # a level-1 ATX heading (``## x`` does not match)
_TOML_AT = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_TOML_AT_END = re.compile(r"\s*\(at end of document\)\s*$")
_BARE_OR_QUOTED = r"""(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')"""
_TOML_HEADER = re.compile(rf"\[\[?\s*({_BARE_OR_QUOTED}(?:\s*\.\s*{_BARE_OR_QUOTED})*)\s*\]\]?\s*(?:#.*)?")
_TOML_ASSIGN = re.compile(rf"({_BARE_OR_QUOTED}(?:\s*\.\s*{_BARE_OR_QUOTED})*)\s*=")
#: Title Case: these may stay lowercase unless they are the label's first or last word.
_MINOR_WORDS = frozenset(
    "a an and as at but by for from in into nor of on onto or over per the to up via vs with".split()
)


class TaskError(Exception):
    """A task file that cannot be used. ``path``: the file; ``line``: 1-based line in the file (the opening
    ``+++`` is line 1 when the file starts with it), or None when no line applies; ``problem``: what is wrong
    and what to do. ``str(error)`` is ``"<file name>, line <n>: <problem>"`` (``"<file name>: <problem>"``
    without a line)."""

    def __init__(self, path: Path, line: int | None, problem: str) -> None:
        self.path = Path(path)
        self.line = line
        self.problem = problem
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.path.name if self.line is None else f"{self.path.name}, line {self.line}"
        return f"{where}: {self.problem}"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.path, self.line, self.problem))


@dataclass(frozen=True)
class RequestOverrides:
    """A task's ``[request]`` table: settings that replace the sidebar's for this task. None means "use the
    sidebar's value". ``temperature`` 0-2, ``max_tokens`` >= 1, ``max_retries`` >= 0; ``fallbacks``: whether
    the fallback models may be tried; ``cache``: whether the response cache may answer or store."""

    temperature: float | None = None
    max_tokens: int | None = None
    max_retries: int | None = None
    fallbacks: bool = True
    cache: bool = True


@dataclass(frozen=True)
class Task:
    """One validated task file (see the module docstring for the format).

    ``id``/``label``/``description``/``scope``/``output``/``grounded``/``context``/``request``: the front
    matter (``context`` in file order). ``system``/``user``: the templates, stripped of surrounding blank
    lines (``""`` when the heading is absent or the template empty: no such message is sent). ``source``: the
    file; ``builtin``: whether it came from :data:`BUILTIN_DIR`. ``system_line``/``user_line``: the file line
    each template starts on (for error messages).
    """

    id: str
    label: str
    description: str
    scope: str
    output: str
    grounded: bool
    context: tuple[str, ...]
    request: RequestOverrides
    system: str
    user: str
    source: Path
    builtin: bool
    system_line: int = field(default=0, compare=False, repr=False)
    user_line: int = field(default=0, compare=False, repr=False)

    def placeholders(self) -> frozenset[str]:
        """Every placeholder name (``$name``/``${name}``) in the system and user templates."""
        return frozenset(name for template in (self.system, self.user) for name, _ in _names(template))

    def render(self, values: Mapping[str, object]) -> tuple[dict[str, str], ...]:
        """The chat messages: ``({"role": "system", "content": ...}, {"role": "user", "content": ...})``, each
        message present only when its template is not empty (chat: system only; the probe: user only).

        ``values`` maps placeholder names to values; every value is data: ``str(value)`` passed through
        :func:`.render.neutralise` (no tag can open or close a data block, NULs removed), then substituted.
        Extra values are ignored. Raises :class:`TaskError` (this file, the template line) for a placeholder
        without a value.
        """
        messages = []
        for role, template, first in (("system", self.system, self.system_line), ("user", self.user, self.user_line)):
            if not template:
                continue
            names = {}
            for name, offset in _names(template):
                if name not in values:
                    given = ", ".join(sorted(values)) or "none"
                    raise TaskError(
                        self.source,
                        (first + template.count("\n", 0, offset)) if first else None,
                        f"no value for the placeholder ${name} in the {role} template (values given: {given}); "
                        f"the code running the task must supply it, or the template must not use it",
                    )
                names[name] = neutralise(str(values[name]))
            messages.append({"role": role, "content": Template(template).substitute(names)})
        return tuple(messages)


@dataclass
class TaskCatalog:
    """The tasks that loaded (by id: built-in ones first, in file-name order, a user task replacing the
    built-in one with its id) and the files that did not (:class:`TaskError`\\ s: file, line, problem)."""

    tasks: dict[str, Task] = field(default_factory=dict)
    errors: list[TaskError] = field(default_factory=list)

    def get(self, task_id: str) -> Task:
        """The task ``task_id``. Raises ``KeyError`` with a message listing the known ids (and the files that
        failed to load, which may be why it is missing)."""
        try:
            return self.tasks[task_id]
        except KeyError:
            known = ", ".join(sorted(self.tasks)) or "none"
            message = f"No task with id {task_id!r}; known tasks: {known}."
            if self.errors:
                message += " Task files that failed to load: " + "; ".join(str(e) for e in self.errors)
            raise KeyError(message) from None


def load_task(path: Path, *, builtin: bool = False) -> Task:
    """Read and validate the task file ``path`` (UTF-8, an optional byte-order mark, any line endings).

    Returns a :class:`Task` with ``builtin`` set as given. Raises :class:`TaskError` naming the file and the
    line for: an unreadable or non-UTF-8 file; a missing or unclosed front matter; invalid TOML; a missing,
    mistyped or unknown key; an id that is not snake_case or not the file's stem; an unknown scope, output or
    context entry; an out-of-range request setting; a missing ``# System`` heading, a duplicate or unknown
    level-1 heading, text before the first heading; an invalid ``$`` or a placeholder the context does not
    provide.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TaskError(path, None, f"cannot be read ({exc.strerror or exc}); check that the file exists") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise TaskError(path, line, "is not UTF-8 text; save the file as UTF-8") from exc
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")

    opening, closing = _find_front_matter(path, lines)
    front_lines = lines[opening : closing - 1]  # between the fences; line numbers are 1-based
    front = _parse_toml(path, front_lines, opening, closing)
    keys = _KeyLines(front_lines, first=opening + 1, fallback=opening)
    meta = _validate_front_matter(path, front, keys, opening)
    templates = _split_templates(path, lines, closing)
    system, system_line = templates.get("system", ("", 0))
    user, user_line = templates.get("user", ("", 0))
    _check_placeholders(path, meta["context"], (("system", system, system_line), ("user", user, user_line)))
    return Task(
        **meta,
        system=system,
        user=user,
        source=path,
        builtin=builtin,
        system_line=system_line,
        user_line=user_line,
    )


def load_tasks(user_dir: Path | None = None, builtin_dir: Path = BUILTIN_DIR) -> TaskCatalog:
    """Every task: each ``*.md`` in ``builtin_dir`` (``builtin=True``), then each in ``user_dir`` (a user task
    with a built-in id replaces the built-in one). Files are read in name order; names starting with ``.``
    (editor lock files) are skipped.

    Never raises: a file that fails to load becomes a :class:`TaskError` in ``errors`` and the other tasks
    still load; a missing ``user_dir`` (or None) is not an error, a missing ``builtin_dir`` is.
    """
    catalog = TaskCatalog()
    for folder, builtin in ((builtin_dir, True), (user_dir, False)):
        if folder is None:
            continue
        folder = Path(folder)
        if not folder.exists():
            if builtin:
                catalog.errors.append(TaskError(folder, None, "the built-in task folder is missing; reinstall"))
            continue
        if not folder.is_dir():
            catalog.errors.append(TaskError(folder, None, "is a file, not a folder of task files"))
            continue
        try:
            files = sorted(p for p in folder.glob("*.md") if not p.name.startswith(".") and p.is_file())
        except OSError as exc:
            catalog.errors.append(TaskError(folder, None, f"cannot be listed ({exc.strerror or exc})"))
            continue
        for file in files:
            try:
                task = load_task(file, builtin=builtin)
            except TaskError as exc:
                catalog.errors.append(exc)
                continue
            except Exception as exc:  # the contract is "never raises": report anything else as the file's problem
                catalog.errors.append(TaskError(file, None, f"could not be loaded ({type(exc).__name__}: {exc})"))
                continue
            catalog.tasks[task.id] = task
    return catalog


@functools.cache
def builtin_task(task_id: str) -> Task:
    """The built-in task ``task_id`` (``BUILTIN_DIR/<task_id>.md``), loaded once and cached. Raises
    ``KeyError`` (listing the built-in ids) when there is no such file, :class:`TaskError` when it is broken."""
    path = BUILTIN_DIR / f"{task_id}.md"
    if not _ID.fullmatch(task_id) or not path.is_file():
        known = ", ".join(sorted(p.stem for p in BUILTIN_DIR.glob("*.md"))) or "none"
        raise KeyError(f"No built-in task {task_id!r}; built-in tasks: {known}.")
    return load_task(path, builtin=True)


# --- parsing ------------------------------------------------------------------------------------------------


def _find_front_matter(path: Path, lines: list[str]) -> tuple[int, int]:
    """The 1-based line numbers of the opening and closing ``+++``."""
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise TaskError(path, 1, 'the file is empty; a task starts with front matter between "+++" lines')
    if lines[first].strip() != _FENCE:
        raise TaskError(
            path,
            first + 1,
            'a task file must start with TOML front matter: a line "+++", the keys (id, label, description, '
            'scope, output), and another "+++" line',
        )
    for i in range(first + 1, len(lines)):
        if lines[i].strip() == _FENCE:
            return first + 1, i + 1
    raise TaskError(
        path, first + 1, 'the front matter opened here is never closed; add a line "+++" after its last key'
    )


def _parse_toml(path: Path, front_lines: list[str], opening: int, closing: int) -> dict[str, Any]:
    """The front matter as a dict; TOML errors are mapped to the file's line numbers."""
    try:
        return tomllib.loads("\n".join(front_lines) + "\n")
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        lineno = getattr(exc, "lineno", None)  # Python 3.14 has the attributes; earlier versions only the text
        colno = getattr(exc, "colno", None)
        at = _TOML_AT.search(message)
        if at:
            message = message[: at.start()]
            lineno, colno = int(at.group(1)), int(at.group(2))
        message = _TOML_AT_END.sub("", message)
        if lineno is not None and 1 <= lineno <= len(front_lines):
            if "overwrite" in message or "twice" in message:
                fix = "this key or table was already given above; keep only one"
            else:
                fix = 'check the quotes, brackets and "=" on this line (strings need double quotes: label = "My Task")'
            raise TaskError(
                path, opening + lineno, f"the front matter is not valid TOML: {message} (column {colno}); {fix}"
            ) from None
        last = max((i for i, line in enumerate(front_lines) if line.strip()), default=None)
        raise TaskError(
            path,
            opening + 1 + last if last is not None else opening,
            f"the front matter is not valid TOML: {message} at the end of the front matter; close every string, "
            "array and inline table, and give each key only once",
        ) from None


class _KeyLines:
    """Where each key of the front matter is written (best effort: headers, ``key =`` and dotted keys)."""

    def __init__(self, front_lines: list[str], first: int, fallback: int) -> None:
        self.fallback = fallback
        self.lines: dict[tuple[str, ...], int] = {}
        table: tuple[str, ...] = ()
        in_multiline: str | None = None
        for index, raw in enumerate(front_lines):
            number = first + index
            stripped = raw.strip()
            if in_multiline:
                if stripped.count(in_multiline) % 2:
                    in_multiline = None
                continue
            header = _TOML_HEADER.fullmatch(stripped)
            if header:
                table = _key_path(header.group(1))
                self.lines.setdefault(table, number)
                continue
            assign = _TOML_ASSIGN.match(stripped)
            if assign:
                path = table + _key_path(assign.group(1))
                for end in range(1, len(path) + 1):
                    self.lines.setdefault(path[:end], number)
                for quote in ('"""', "'''"):
                    if stripped.count(quote) % 2:
                        in_multiline = quote

    def __call__(self, *path: str) -> int:
        """The line of the key ``path`` (or of its nearest enclosing table), else the opening ``+++``."""
        for end in range(len(path), 0, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return self.fallback


def _key_path(text: str) -> tuple[str, ...]:
    return tuple(part.strip("\"'") for part in re.findall(_BARE_OR_QUOTED, text))


def _unknown_key_problem(key: str, known: Iterable[str], where: str) -> str:
    known = tuple(known)
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f'did you mean "{close[0]}"? ' if close else ""
    return f'unknown key "{key}"{where}; {hint}the known keys are: {", ".join(known)}'


def _validate_front_matter(path: Path, front: dict[str, Any], keys: _KeyLines, opening: int) -> dict[str, Any]:
    """The front matter's values for :class:`Task`'s fields, checked."""
    known = _REQUIRED + _OPTIONAL
    for key in sorted(front, key=lambda k: keys(k)):
        if key in _REQUEST_KEYS:
            raise TaskError(
                path, keys(key), f'"{key}" belongs in the request table: put it below a line [request] at the end'
            )
        if key not in known:
            raise TaskError(path, keys(key), _unknown_key_problem(key, known, ""))
    examples = {
        "id": f'id = "{path.stem}"',
        "label": 'label = "Analyze Scene"',
        "description": 'description = "One sentence: what the task does"',
        "scope": f'scope = "scene" (one of: {", ".join(SCOPES)})',
        "output": f'output = "answer" (one of: {", ".join(OUTPUTS)})',
    }
    for key in _REQUIRED:
        if key not in front:
            raise TaskError(
                path, opening, f'the front matter has no "{key}"; add a line like {examples[key]} after this "+++"'
            )
        if not isinstance(front[key], str):
            raise TaskError(path, keys(key), f'"{key}" must be a string in double quotes, like {examples[key]}')

    task_id = front["id"]
    if not _ID.fullmatch(task_id):
        raise TaskError(
            path,
            keys("id"),
            f'id "{task_id}" must be lowercase snake_case (a-z, 0-9 and "_", starting with a letter), '
            f'like "{_snake(task_id)}"',
        )
    if task_id != path.stem:
        raise TaskError(
            path,
            keys("id"),
            f'id "{task_id}" does not match the file name "{path.name}"; rename the file to "{task_id}.md" '
            f'or set id = "{path.stem}"',
        )
    label = front["label"].strip()
    problem = _title_case_problem(label)
    if problem:
        raise TaskError(path, keys("label"), problem)
    description = front["description"].strip()
    if not description or "\n" in description:
        raise TaskError(path, keys("description"), "description must be one sentence on one line: the tooltip")
    for key, allowed in (("scope", SCOPES), ("output", OUTPUTS)):
        if front[key] not in allowed:
            raise TaskError(path, keys(key), f'unknown {key} "{front[key]}"; use one of: {", ".join(allowed)}')

    grounded = front.get("grounded", False)
    if not isinstance(grounded, bool):
        raise TaskError(path, keys("grounded"), "grounded must be true or false (no quotes)")

    context = front.get("context", [])
    if not isinstance(context, list) or not all(isinstance(c, str) for c in context):
        raise TaskError(path, keys("context"), 'context must be a list of strings, like context = ["title", "scene"]')
    for entry in context:
        if entry not in CONTEXTS:
            close = difflib.get_close_matches(entry, list(CONTEXTS), n=1)
            hint = f'did you mean "{close[0]}"? ' if close else ""
            raise TaskError(
                path, keys("context"), f'unknown context "{entry}"; {hint}use any of: {", ".join(CONTEXTS)}'
            )
    if len(set(context)) != len(context):
        raise TaskError(path, keys("context"), "context lists an entry twice; list each once")

    return {
        "id": task_id,
        "label": label,
        "description": description,
        "scope": front["scope"],
        "output": front["output"],
        "grounded": grounded,
        "context": tuple(context),
        "request": _request_overrides(path, front.get("request", {}), keys),
    }


def _request_overrides(path: Path, table: object, keys: _KeyLines) -> RequestOverrides:
    if not isinstance(table, dict):
        raise TaskError(path, keys("request"), "request must be a table: a line [request], then its keys")
    values: dict[str, Any] = table
    for key in sorted(values, key=lambda k: keys("request", k)):
        if key not in _REQUEST_KEYS:
            raise TaskError(path, keys("request", key), _unknown_key_problem(key, _REQUEST_KEYS, " in [request]"))

    def number(key: str, whole: bool, low: float, high: float | None, what: str) -> Any:
        value = values.get(key)
        if value is None:
            return None
        kinds: tuple[type, ...] = (int,) if whole else (int, float)
        valid = isinstance(value, kinds) and not isinstance(value, bool)
        if not valid or value < low or (high is not None and value > high):
            raise TaskError(path, keys("request", key), f"request.{key} must be {what} (got {value!r})")
        return value

    temperature = number("temperature", False, 0.0, 2.0, "a number from 0 to 2, like temperature = 0.2")
    max_tokens = number("max_tokens", True, 1, None, "a whole number of at least 1, like max_tokens = 400")
    max_retries = number("max_retries", True, 0, None, "a whole number of at least 0, like max_retries = 0")
    flags = {}
    for key in ("fallbacks", "cache"):
        value = values.get(key, True)
        if not isinstance(value, bool):
            raise TaskError(path, keys("request", key), f"request.{key} must be true or false (no quotes)")
        flags[key] = value
    return RequestOverrides(
        temperature=float(temperature) if temperature is not None else None,
        max_tokens=max_tokens,
        max_retries=max_retries,
        **flags,
    )


def _split_templates(path: Path, lines: list[str], closing: int) -> dict[str, tuple[str, int]]:
    """``{"system": (template, first line), "user": ...}`` from the lines after the front matter."""
    sections: dict[str, tuple[int, list[str]]] = {}
    current: list[str] | None = None
    for index in range(closing, len(lines)):
        number = index + 1
        line = lines[index]
        heading = _HEADING.fullmatch(line.rstrip())
        if heading:
            name = heading.group(1).rstrip("#").strip().lower()
            if name not in _SECTIONS:
                raise TaskError(
                    path,
                    number,
                    f'unknown heading "{line.strip()}"; only "# System" and "# User" start a template '
                    '(use "## ..." for a heading inside a template)',
                )
            if name in sections:
                raise TaskError(
                    path,
                    number,
                    f'a second "# {name.title()}" heading; a task has one of each (the first is on '
                    f"line {sections[name][0] - 1})",
                )
            current = []
            sections[name] = (number + 1, current)
        elif current is None:
            if line.strip():
                raise TaskError(
                    path,
                    number,
                    'text before the "# System" heading belongs to no template; move it under "# System" or "# User"',
                )
        else:
            current.append(line)
    if "system" not in sections:
        raise TaskError(
            path,
            closing,
            'no "# System" heading after the front matter; add a line "# System" followed by the system '
            "prompt (it may be left empty)",
        )
    templates = {}
    for name, (first, body) in sections.items():
        leading = next((i for i, line in enumerate(body) if line.strip()), len(body))
        text = "\n".join(body[leading:]).rstrip()
        templates[name] = (text, first + leading if text else 0)
    if not any(text for text, _ in templates.values()):
        raise TaskError(path, closing, 'both templates are empty; write the prompt under "# System" or "# User"')
    return templates


def _names(template: str) -> list[tuple[str, int]]:
    """Each placeholder of ``template`` with its offset (valid templates only)."""
    found = []
    for match in Template.pattern.finditer(template):
        name = match.group("named") or match.group("braced")
        if name:
            found.append((name, match.start()))
    return found


def _check_placeholders(path: Path, context: tuple[str, ...], templates: Iterable[tuple[str, str, int]]) -> None:
    provided: frozenset[str] = frozenset().union(*(CONTEXTS[c] for c in context))
    for role, template, first in templates:
        for match in Template.pattern.finditer(template):
            line = first + template.count("\n", 0, match.start())
            if match.group("invalid") is not None:
                raise TaskError(
                    path,
                    line,
                    f'a "$" in the {role} template that starts no placeholder; write "$$" for a dollar sign, or '
                    "$name / ${name} for a placeholder",
                )
            name = match.group("named") or match.group("braced")
            if not name or name in provided:
                continue
            sources = [c for c, names in CONTEXTS.items() if name in names]
            if sources:
                fix = f'add "{sources[0]}" to context'
            else:
                known = sorted(set().union(*CONTEXTS.values()))
                close = difflib.get_close_matches(name, known, n=1)
                fix = (f"did you mean ${close[0]}? " if close else "") + "known placeholders: " + ", ".join(known)
            listed = ", ".join(f'"{c}"' for c in context) or "none"
            raise TaskError(
                path, line, f"the placeholder ${name} is not provided by the task's context ({listed}); {fix}"
            )


def _title_case_problem(label: str) -> str | None:
    if not label or "\n" in label:
        return 'label must be a short name on one line, in Title Case, like label = "Analyze Scene"'
    words = label.split()
    fixed = []
    for index, word in enumerate(words):
        minor = word.lower() in _MINOR_WORDS and 0 < index < len(words) - 1
        if word[:1].isalpha() and word[:1].islower() and not minor:
            word = word[:1].upper() + word[1:]
        fixed.append(word)
    suggestion = " ".join(fixed)
    if suggestion != " ".join(words):
        return f'label "{label}" must be in Title Case (as menus show it), like "{suggestion}"'
    return None


def _snake(text: str) -> str:
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", text)
    text = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    return text if text[:1].isalpha() else f"task_{text}" if text else "my_task"
