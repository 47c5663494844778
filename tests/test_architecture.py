"""The package's shape (issue 13): no import cycle among its modules, and no module outside a reader
reaching into that reader's private (underscore) names. Imports inside functions count: a cycle hidden
in a function is still a cycle; imports for type checking only do not."""

from __future__ import annotations

import ast
from pathlib import Path

import bceweights

PACKAGE = Path(bceweights.__file__).resolve().parent


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _base(name: str, level: int, module: str | None) -> str:
    if not level:
        return module or ""
    parts = name.split(".") if _is_package(name) else name.split(".")[:-1]
    parts = parts[: len(parts) - (level - 1)]
    return ".".join(parts + ([module] if module else []))


class _Imports(ast.NodeVisitor):
    """Every (module imported, names taken from it, node) of one module, outside TYPE_CHECKING."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.found: list[tuple[str, list[str], ast.AST]] = []
        self.aliases: dict[str, str] = {}

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        if (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
                isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"):
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name.startswith("bceweights"):
                self.found.append((alias.name, [], node))
                if alias.asname:
                    self.aliases[alias.asname] = alias.name

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = _base(self.name, node.level, node.module)
        if not base.startswith("bceweights"):
            return
        for alias in node.names:
            full = f"{base}.{alias.name}"
            if full in MODULES:  # a submodule: ``from . import api``
                self.found.append((full, [], node))
                self.aliases[alias.asname or alias.name] = full
            else:
                self.found.append((base, [alias.name], node))


def _imports(name: str) -> _Imports:
    visitor = _Imports(name)
    visitor.visit(ast.parse(MODULES[name].read_text(encoding="utf-8")))
    return visitor


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name in MODULES:
        edges = set()
        for target, _, _ in _imports(name).found:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            edges.add(target)
        edges.discard(name)
        graph[name] = {e for e in edges if e in MODULES}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return out


def test_no_import_cycles():
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _reader_homes() -> set[str]:
    """Where each built-in reader lives: its module, and the package of the classes it is built on (the
    table reader's ``bceweights.tables``), outside the shared contract in ``readers.base``."""
    from bceweights import readers

    homes = set()
    for reader in readers.readers().values():
        for cls in type(reader).__mro__:
            home = cls.__module__
            if not home.startswith("bceweights.") or home == "bceweights.readers.base":
                continue
            package = home.rsplit(".", 1)[0]
            homes.add(home if package in ("bceweights", "bceweights.readers") else package)
    return homes


def _home_of(module: str, homes: set[str]) -> str | None:
    return next((h for h in homes if module == h or module.startswith(h + ".")), None)


def _private_uses(name: str, homes: set[str], source: str | None = None) -> list[str]:
    """Where module ``name`` takes an underscore name from a reader it does not belong to."""
    mine = _home_of(name, homes)
    tree = ast.parse(source if source is not None else MODULES[name].read_text(encoding="utf-8"))
    visitor = _Imports(name)
    visitor.visit(tree)
    found = []
    for target, names, node in visitor.found:
        home = _home_of(target, homes)
        if home is not None and home != mine:
            found += [f"{name}:{node.lineno} imports {target}.{n}" for n in names if n.startswith("_")]
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.attr.startswith("_") \
                and not node.attr.startswith("__"):
            target = visitor.aliases.get(node.value.id, "")
            home = _home_of(target, homes)
            if home is not None and home != mine:
                found.append(f"{name}:{node.lineno} uses {target}.{node.attr}")
    return found


def test_no_module_reads_a_readers_private_names():
    homes = _reader_homes()
    assert {"bceweights.readers.delimited", "bceweights.tables"} <= homes
    assert [use for name in MODULES for use in _private_uses(name, homes)] == []


def test_the_private_name_check_finds_both_forms():
    source = ("from bceweights.tables.source import _compression, TableSource\n"
              "from bceweights.tables import layout\n"
              "layout._bits(None)\n")
    assert _private_uses("bceweights.api", {"bceweights.tables"}, source) == [
        "bceweights.api:1 imports bceweights.tables.source._compression",
        "bceweights.api:3 uses bceweights.tables.layout._bits",
    ]
    assert _private_uses("bceweights.tables.reader", {"bceweights.tables"}, source) == []


def test_builtin_readers_are_registered_as_entry_points():
    import tomllib

    from bceweights import readers

    project = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())
    assert project["project"]["entry-points"]["bceweights.readers"] == readers.BUILTIN
