"""The layers hold: no import cycle, no cog importing another cog, no Discord in the domain."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> dict[str, Path]:
    files = [ROOT / "bot.py", *(ROOT / "cogs").rglob("*.py"), *(ROOT / "wanbot").rglob("*.py")]
    return {_module_name(p): p for p in files}


def _imports(path: Path, known: set[str]) -> set[str]:
    """Our modules that `path` imports anywhere (top level, functions, TYPE_CHECKING)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def _graph() -> dict[str, set[str]]:
    sources = _sources()
    known = set(sources)
    return {name: _imports(path, known) - {name} for name, path in sources.items()}


def _is_cog(name: str, path: Path) -> bool:
    """An extension: a module of cogs/ with an `async def setup`."""
    if not name.startswith("cogs."):
        return False
    tree = ast.parse(path.read_text())
    return any(isinstance(n, ast.AsyncFunctionDef) and n.name == "setup" for n in tree.body)


def test_no_import_cycle() -> None:
    graph = _graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt) :], nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_no_cog_imports_another_cog() -> None:
    sources = _sources()
    cogs = {name for name, path in sources.items() if _is_cog(name, path)}
    assert {"cogs.generate", "cogs.edit", "cogs.account", "cogs.admin"} <= cogs
    graph = _graph()
    bad = [f"{a} imports {b}" for a in sorted(cogs) for b in sorted(graph[a] & cogs)]
    assert bad == []


def test_no_discord_in_the_domain() -> None:
    bad = []
    for path in (ROOT / "wanbot").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            bad += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] == "discord"]
    assert bad == []
