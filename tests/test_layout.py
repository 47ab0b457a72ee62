"""The design card's layering, read from the source: the scheduler stays pure (no
database, no web framework), drivers never touch the database, domain flows know nothing
of FastAPI, and no two modules of app/ import each other, directly or around a loop."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(APP.rglob("*.py"))}
RESOURCES = ("volumes", "snapshots", "backups", "groups", "types")


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve(node: ast.ImportFrom, importer: str) -> str:
    if not node.level:
        return node.module or ""
    package = importer if MODULES[importer].name == "__init__.py" else importer.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def imported(node: ast.Import | ast.ImportFrom, importer: str) -> list[str]:
    """The modules an import statement names: `from a import b` is a.b when b is a
    module of app/, else a."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = _resolve(node, importer)
    return [
        f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
        for alias in node.names
    ]


def all_imports(name: str) -> set[str]:
    """Every import of a module, wherever it stands (in functions too)."""
    tree = ast.parse(MODULES[name].read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.update(imported(node, name))
    return found


def load_time_imports(name: str) -> set[str]:
    """The imports that run when a module is loaded: its top level, including top-level
    `if`/`try` bodies, but not `if TYPE_CHECKING:` (never run) nor function bodies."""
    found: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                found.update(imported(node, name))
            elif isinstance(node, ast.If):
                if not _is_type_checking(node.test):
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                for part in (node.body, node.orelse, node.finalbody):
                    visit(part)
                for handler in node.handlers:
                    visit(handler.body)
            elif isinstance(node, ast.With):
                visit(node.body)

    visit(ast.parse(MODULES[name].read_text()).body)
    return found


def _names(imports: set[str], forbidden: tuple[str, ...]) -> set[str]:
    return {i for i in imports if any(i == f or i.startswith(f + ".") for f in forbidden)}


def offenders(package: str, forbidden: tuple[str, ...]) -> dict[str, set[str]]:
    return {
        name: bad
        for name in MODULES
        if name == package or name.startswith(package + ".")
        if (bad := _names(all_imports(name), forbidden))
    }


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        # The scheduler is pure: reports reach it through the capability cache, and its
        # answers become claims in app/volumes/capacity/.
        (
            "app.scheduler",
            (
                "sqlalchemy",
                "fastapi",
                "starlette",
                "app.db",
                "app.api",
                "app.volumes",
                "app.runtime",
            ),
        ),
        # Drivers act on storage only; the agent reports what they did.
        ("app.drivers", ("sqlalchemy", "fastapi", "starlette", "app.db", "app.api", "app.volumes")),
        # Domain flows are called by routers, never the other way round.
        ("app.volumes", ("fastapi", "starlette", "app.api")),
        # The kernel and the database side of capacity serve every resource and know none.
        *(
            (base, (*(f"app.volumes.{r}" for r in RESOURCES), "app.volumes.results"))
            for base in ("app.volumes.kernel", "app.volumes.capacity")
        ),
    ],
)
def test_each_package_imports_only_what_its_layer_may(
    package: str, forbidden: tuple[str, ...]
) -> None:
    assert offenders(package, forbidden) == {}


def test_the_scan_sees_the_imports_it_guards() -> None:
    """A guard that reads nothing passes: the scan must find the database in the domain."""
    assert _names(all_imports("app.volumes.capacity.claims"), ("sqlalchemy", "app.db"))
    assert "app.volumes.capacity.claims" in load_time_imports("app.volumes.capacity.reports")


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := walk(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := walk(node)):
            return cycle
    return None


def test_app_modules_import_one_another_without_a_cycle() -> None:
    graph = {name: load_time_imports(name) & MODULES.keys() - {name} for name in MODULES}
    assert find_cycle(graph) is None


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
