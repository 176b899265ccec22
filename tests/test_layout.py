"""The floor plan holds: shared code by domain, no import cycle, no product file too long to
read (issue 21). Reads the source only."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

from conftest import ROOT

MAX_LINES = 500


def product_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.py"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    return [ROOT / name for name in listed if not name.startswith(("tests/", "benchmarks/"))]


def utils_modules() -> dict[str, Path]:
    return {
        ".".join(path.relative_to(ROOT).with_suffix("").parts): path
        for path in (ROOT / "utils").rglob("*.py")
        if path.name != "__init__.py" and "migrations" not in path.parts
    }


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """The utils modules ``path`` imports, at module level or inside functions alike."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            found |= {n for n in [node.module, *names] if n in known}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in known}
    return found


def test_no_product_file_is_over_500_lines():
    long = {
        str(path.relative_to(ROOT)): n
        for path in product_files()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def test_four_fifths_of_the_shared_code_lives_in_subpackages():
    modules = utils_modules()
    flat = [name for name in modules if name.count(".") == 1]
    assert len(flat) * 5 <= len(modules), flat


def test_no_import_cycle_in_the_shared_code():
    modules = utils_modules()
    graph = {name: imported_modules(path, set(modules)) - {name} for name, path in modules.items()}
    cycles, state = [], {}

    def visit(name: str, stack: list[str]) -> None:
        state[name] = "open"
        for other in sorted(graph[name]):
            if state.get(other) == "open":
                cycles.append(stack[stack.index(other) :] + [other])
            elif other not in state:
                visit(other, [*stack, other])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_everything_a_run_leaves_is_ignored_by_git():
    """A generated file that git does not ignore ends up committed by someone (the challenger's
    link was one)."""
    from utils.config import load_project_config
    from utils.layout import Layout

    def as_git_sees(path: Path) -> str:
        """The path, or its first ancestor that is a link once a run made one (git refuses a
        path beyond a symbolic link: the ingested data and the deployment are links)."""
        relative = path.relative_to(ROOT)
        for depth in range(1, len(relative.parts)):
            if (ROOT / Path(*relative.parts[:depth])).is_symlink():
                return str(Path(*relative.parts[:depth]))
        return str(relative)

    layout = Layout.from_config(load_project_config(ROOT), ROOT)
    generated = sorted({as_git_sees(path) for _, path in layout.outputs()})
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", *generated], cwd=ROOT, capture_output=True,
        text=True, check=False,
    ).stdout.split()  # fmt: skip
    assert sorted(ignored) == generated
