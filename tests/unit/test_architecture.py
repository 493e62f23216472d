"""Architecture checks import-linter cannot make (its contracts, for the add-on, are in pyproject.toml and run as
`lint-imports` in scripts/test): the Python files in scripts/ are not a package but import each other by module name
(``sys.path`` holds scripts/ when one runs), so they are checked here, with the standard library alone (this file
runs in every test environment, and only .venv has grimp)."""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def imported_names(path: Path) -> set[str]:
    """Top-level names of every module ``path`` imports: module level or inside functions, ``import a.b``,
    ``from a import b``, and ``importlib.import_module("a")`` / ``__import__("a")`` with a literal name."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.partition(".")[0])
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if called in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                names.add(node.args[0].value.partition(".")[0])
    return names


def import_graph(folder: Path) -> dict[str, set[str]]:
    """For each ``*.py`` in ``folder`` (by module name), the other modules of ``folder`` it imports."""
    files = {path.stem: path for path in sorted(folder.glob("*.py"))}
    return {name: (imported_names(path) & files.keys()) - {name} for name, path in files.items()}


def find_cycle(graph: Mapping[str, set[str]]) -> list[str]:
    """One import cycle of ``graph`` as ``[a, b, ..., a]``, or ``[]`` when there is none (depth-first search)."""
    done: set[str] = set()
    path: list[str] = []

    def visit(node: str) -> list[str]:
        if node in path:
            return path[path.index(node) :] + [node]
        if node in done:
            return []
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if cycle := visit(target):
                return cycle
        path.pop()
        done.add(node)
        return []

    for start in sorted(graph):
        if cycle := visit(start):
            return cycle
    return []


def test_scripts_have_no_import_cycle() -> None:
    graph = import_graph(SCRIPTS)
    assert {"bench", "bench_window", "bench_common"} <= graph.keys()  # the folder is the one meant
    cycle = find_cycle(graph)
    assert not cycle, "scripts/ import cycle: " + " -> ".join(f"{name}.py" for name in cycle)


def test_the_check_finds_a_cycle_through_function_level_and_dynamic_imports(tmp_path: Path) -> None:
    (tmp_path / "one.py").write_text("import os\n\ndef f():\n    from two import g\n", encoding="utf-8")
    (tmp_path / "two.py").write_text("import importlib\nthree = importlib.import_module('three')\n", encoding="utf-8")
    (tmp_path / "three.py").write_text("import one.sub\n", encoding="utf-8")
    (tmp_path / "four.py").write_text("import one\nimport four\n", encoding="utf-8")  # a self-import is no cycle

    graph = import_graph(tmp_path)

    assert graph == {"one": {"two"}, "two": {"three"}, "three": {"one"}, "four": {"one"}}
    assert find_cycle(graph) == ["one", "two", "three", "one"]
    assert find_cycle({"one": {"two"}, "two": set(), "four": {"one", "two"}}) == []


def test_the_add_on_imports_itself_only_relatively() -> None:
    """Installed as an extension the package is ``bl_ext.<repo>.screenwriter_llm``: an absolute
    ``import screenwriter_llm...`` inside it fails there (only docstrings may name it)."""
    package = Path(__file__).resolve().parents[2] / "screenwriter_llm"
    offenders = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            offenders += [f"{path.name}:{node.lineno}" for name in names if name.split(".")[0] == "screenwriter_llm"]
    assert offenders == []
