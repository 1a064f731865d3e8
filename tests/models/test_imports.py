"""The engine's import structure: no circles, no private names across modules, no AnnData layer."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import pathreg.models

MODULES = sorted(Path(pathreg.models.__file__).parent.glob("*.py"))
FORBIDDEN_PACKAGES = ("pathreg.tl", "pathreg.pp", "pathreg.pl", "anndata", "mudata", "scanpy")


def _imports(path: Path) -> list[tuple[ast.ImportFrom | ast.Import, bool]]:
    """Every import statement of ``path`` with whether it sits at module level."""
    tree = ast.parse(path.read_text())
    top_level = {id(node) for node in tree.body}
    return [(node, id(node) in top_level) for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]


def _imported_modules(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level == 0:
        return [node.module or ""]
    package = "pathreg.models" if node.level == 1 else "pathreg"
    return [f"{package}.{node.module}" if node.module else package]


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.name)
def test_no_private_names_across_modules_and_no_lazy_package_imports(path):
    for node, at_top in _imports(path):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            private = [alias.name for alias in node.names if alias.name.startswith("_")]
            assert not private, f"{path.name} imports the private names {private} from {node.module}"
            assert at_top, f"{path.name}: an import of .{node.module} inside a function (an import circle)"


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.name)
def test_the_engine_does_not_import_the_anndata_layer(path):
    for node, _ in _imports(path):
        for module in _imported_modules(node):
            assert not module.startswith(FORBIDDEN_PACKAGES), f"{path.name} imports {module}"


@pytest.mark.parametrize(
    ("importer", "imported"),
    [("_pruning", "_training"), ("_stages", "_training"), ("_ode", "_io"), ("_graphs", "_training")],
)
def test_lower_layers_do_not_import_higher_ones(importer, imported):
    path = Path(pathreg.models.__file__).parent / f"{importer}.py"
    modules = {module for node, _ in _imports(path) for module in _imported_modules(node)}
    assert f"pathreg.models.{imported}" not in modules
