"""The layers of docs/architecture.md, enforced by reading every import (top-level and lazy) of the package.

- no module imports a module of a higher layer;
- ``gui/`` and ``commands/`` import only the service, the records, errors and config (and their own package);
- the records import no feature package;
- no import cycles between modules (counting lazy imports too);
- Qt only under ``gui/``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import safemed_desktop

PKG = Path(safemed_desktop.__file__).resolve().parent

#: Layer of each module or package (longest prefix wins), lowest first. Same layer may import same layer.
LAYERS: dict[str, int] = {
    "safemed_desktop": 0,  # __init__ (version)
    "safemed_desktop.errors": 0,
    "safemed_desktop.paths": 0,
    "safemed_desktop.jsonio": 0,
    "safemed_desktop.category": 0,
    "safemed_desktop.netguard": 0,
    "safemed_desktop.records": 1,
    "safemed_desktop.config": 2,
    "safemed_desktop.rubric": 3,
    "safemed_desktop.inference": 4,
    "safemed_desktop.model_registry": 4,
    "safemed_desktop.signals": 5,
    "safemed_desktop.fhir": 5,
    "safemed_desktop.store": 6,
    "safemed_desktop.sync": 7,
    "safemed_desktop.evaluation": 7,
    "safemed_desktop.reporting": 7,
    "safemed_desktop.validation": 7,
    "safemed_desktop.service": 8,
    "safemed_desktop.commands": 9,
    "safemed_desktop.gui": 9,
    "safemed_desktop.cli": 10,
    "safemed_desktop.__main__": 10,
}
#: What the views (``gui/``, ``commands/``) may import from the core.
VIEW_ALLOWED = ("safemed_desktop.service", "safemed_desktop.records", "safemed_desktop.errors",
                "safemed_desktop.config")
VIEWS = ("safemed_desktop.gui", "safemed_desktop.commands")


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _type_only_lines(tree: ast.AST) -> set[int]:
    """Lines inside ``if TYPE_CHECKING:`` blocks (imports for annotations only, never run)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def _imports(path: Path, *, runtime_only: bool = False) -> list[tuple[int, str]]:
    """(line, absolute module) of every safemed_desktop import in the file, lazy ones included.

    ``runtime_only`` leaves out imports under ``if TYPE_CHECKING:`` (they never run, so they make no
    cycle); the layer rules count them all the same.
    """
    mod = _module_name(path)
    pkg = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
    out = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_only_lines(tree) if runtime_only else set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[: len(pkg.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("safemed_desktop"):
                continue
            if node.module is None or target == "safemed_desktop":  # "from . import x" / "from .. import x"
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    is_module = (PKG.parent / Path(*sub.split("."))).with_suffix(".py").exists() or \
                        (PKG.parent / Path(*sub.split("."))).is_dir()
                    out.append((node.lineno, sub if is_module else target))
            else:
                out.append((node.lineno, target))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith("safemed_desktop")]
    return out


def _layer(module: str) -> int:
    best = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len, default=None)
    if best is None:
        raise AssertionError(f"{module} has no layer in LAYERS (add it, and to docs/architecture.md)")
    return LAYERS[best]


def _files() -> list[Path]:
    return sorted(PKG.rglob("*.py"))


def _graph() -> dict[str, set[str]]:
    return {_module_name(f): {t for _, t in _imports(f, runtime_only=True)} for f in _files()}


def test_every_module_has_a_layer():
    for f in _files():
        _layer(_module_name(f))


def test_no_module_imports_upward():
    bad = []
    for f in _files():
        mod = _module_name(f)
        for line, target in _imports(f):
            if _layer(target) > _layer(mod):
                bad.append(f"{f.relative_to(PKG.parent)}:{line} imports {target} (layer {_layer(target)} > "
                           f"{_layer(mod)})")
    assert not bad, "upward imports:\n" + "\n".join(bad)


def test_views_import_only_service_records_errors_config():
    bad = []
    for f in _files():
        mod = _module_name(f)
        view = next((v for v in VIEWS if mod == v or mod.startswith(v + ".")), None)
        if view is None:
            continue
        for line, target in _imports(f):
            if target == view or target.startswith(view + "."):
                continue
            if not any(target == a or target.startswith(a + ".") for a in VIEW_ALLOWED):
                bad.append(f"{f.relative_to(PKG.parent)}:{line} imports {target}")
    assert not bad, "views reaching past the service:\n" + "\n".join(bad)


def test_records_import_no_feature_package():
    allowed = ("safemed_desktop.records", "safemed_desktop.errors", "safemed_desktop.jsonio")
    for f in (PKG / "records").rglob("*.py"):
        for line, target in _imports(f):
            assert any(target == a or target.startswith(a + ".") for a in allowed), \
                f"{f.relative_to(PKG.parent)}:{line} imports {target}"


def _resolve(graph: dict[str, set[str]], target: str) -> str | None:
    """The module a target names (a module, or a package's __init__)."""
    return target if target in graph else None


def test_no_import_cycles():
    graph = _graph()
    edges = {m: {t for t in deps if _resolve(graph, t) and t != m} for m, deps in graph.items()}
    # a package's __init__ that re-exports its own modules is not a cycle with them
    for m in edges:
        edges[m] = {t for t in edges[m] if not (m.startswith(t + ".") and t in graph)}
    seen: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[str] = []

    def visit(node: str) -> None:
        seen[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if seen.get(nxt) == 1:
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in seen:
                visit(nxt)
        stack.pop()
        seen[node] = 2

    for node in sorted(edges):
        if node not in seen:
            visit(node)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_qt_only_under_gui():
    for f in _files():
        if _module_name(f).startswith("safemed_desktop.gui"):
            continue
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            assert not any(n.split(".")[0] in ("PySide6", "shiboken6") for n in names), f"Qt imported in {f}"


@pytest.mark.parametrize("source, expected", [
    ("from ..store import Store\n", "safemed_desktop.store"),
    ("from ..records.answer import AnswerRecord\n", "safemed_desktop.records.answer"),
    ("import safemed_desktop.signals.pipeline\n", "safemed_desktop.signals.pipeline"),
])
def test_the_checker_sees_imports(tmp_path, source, expected, monkeypatch):
    """The checks above cannot pass vacuously: the reader finds relative, absolute and lazy imports."""
    f = PKG / "gui" / "_probe_for_layers_test.py"
    f.write_text("def lazy():\n    " + source.replace("\n", "\n    ") + "pass\n", encoding="utf-8")
    try:
        found = [t for _, t in _imports(f)]
        assert expected in found
        if expected.startswith(("safemed_desktop.store", "safemed_desktop.signals")):
            with pytest.raises(AssertionError, match="views reaching past the service"):
                test_views_import_only_service_records_errors_config()
    finally:
        f.unlink()


def test_architecture_doc_names_every_layer():
    doc = (PKG.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert "question -> inference -> signals -> store -> view" in doc
    for name in LAYERS:
        short = name.removeprefix("safemed_desktop.")
        if name != "safemed_desktop" and not short.startswith("__"):
            assert f"`{short}" in doc, f"docs/architecture.md does not place `{short}`"
