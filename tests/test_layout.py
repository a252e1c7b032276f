"""The store's layout: no import cycle among its modules, and the same module names on
both backends, so "where is X on PostgreSQL?" takes one guess."""

from __future__ import annotations

import ast
from pathlib import Path

STORE = Path(__file__).parents[1] / "src" / "memchat" / "store"


def module_name(path: Path) -> str:
    parts = path.relative_to(STORE.parent.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_at_load(path: Path) -> set[str]:
    """The memchat.store modules ``path`` imports when it loads: top-level imports only,
    not those under ``if TYPE_CHECKING:`` nor inside functions."""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - node.level + 1]
            target = ".".join([*base, *(node.module.split(".") if node.module else [])])
            names = [f"{target}.{alias.name}" for alias in node.names]
            found |= {target, *names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found


def test_the_store_has_no_import_cycle() -> None:
    modules = {module_name(p): p for p in STORE.rglob("*.py")}
    graph = {
        name: {m for m in imports_at_load(path) if m in modules and m != name}
        for name, path in modules.items()
    }
    # A package imports its own modules (its __init__ re-exports them): not a cycle.
    for name in graph:
        graph[name] = {m for m in graph[name] if not m.startswith(name + ".")}
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        assert name not in path, "import cycle: " + " -> ".join([*path, name])
        if name in done:
            return
        for imported in sorted(graph[name]):
            visit(imported, [*path, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])
    # The check sees imports across packages.
    assert "memchat.store.base" in graph["memchat.store.sqlite.store"]


def test_both_backends_have_the_same_module_names_for_the_same_things() -> None:
    shared = {"__init__.py", "store.py", "schema.py", "memory.py", "turns.py", "search.py"}
    shared |= {"index.py", "sealing.py", "sessions.py", "locks.py", "imports.py"}
    for backend in ("sqlite", "postgres"):
        assert shared <= {p.name for p in (STORE / backend).glob("*.py")}, backend
