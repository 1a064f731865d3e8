"""The package's structure and API conventions (in the spirit of scanpy's ``tests/test_package_structure.py``).

Every check reads the source with :mod:`ast` (the public API checks inspect the imported functions) and
fails with one line per offender, ``file:line: what``. The checkers are plain functions, each first
exercised on a small fake package written into ``tmp_path``, so that each provably finds what it
looks for; then they run on ``src/pathreg`` (and on the scripts in the repository's ``benchmarks/``).

The rules
---------
Import cycles
    The graph has one node per module of ``src/pathreg`` (a package is its ``__init__.py``, named
    after its folder: ``pathreg.tl``) and an edge ``A -> B`` for every import in ``A``, at module level
    or inside a function or class, that makes Python execute ``B``: the module an import names
    (relative imports resolved; in ``from P import n`` also ``P.n`` when that is a module) and every
    package above it (``import pathreg.tl._fit`` runs ``pathreg/tl/__init__.py`` first). Left out:
    imports under ``if TYPE_CHECKING:`` (never executed), a module importing itself, and every edge
    into the ``__init__`` of a package that contains the importer (``pathreg.tl._sweep ->
    pathreg.tl``, ``pathreg.models._fit -> pathreg``): a package's ``__init__`` re-exporting its own
    submodules, which import their siblings or the top-level package, is the normal layout, not a
    circle. Every elementary cycle that remains is an offence.
Private names
    ``from X import _name`` (one leading underscore; dunders such as ``__version__`` are fine) imports
    a private name from another module. Where ``X._name`` is itself a module this is an import of a
    private module, judged by the next rule instead.
Private modules of other subpackages
    A module in ``pathreg/A/`` may import the private modules of ``pathreg.A`` (``from ._fit import
    fit_dynamics`` inside ``tl``), but not ``pathreg.B._x`` (or ``..B._x``) of another subpackage
    ``B``; a top-level module (``pathreg.cli``) has no subpackage of its own. Allowed from anywhere:
    ``pathreg._settings`` and ``pathreg._utils`` (the shared helpers); ``pathreg._demo`` only from
    ``pathreg.cli``.
Private attributes
    ``obj._name`` (one leading underscore) on anything but ``self``, ``cls`` or ``super()``, with the
    allow-list :data:`ALLOWED_PRIVATE_ATTRIBUTES` for third-party internals without a public
    equivalent.
Benchmark scripts
    The ``.py`` files in the repository's ``benchmarks/`` import only public modules and names of
    ``pathreg`` and of each other (no module path component and no imported name with a leading
    underscore), except that the modules of a package in ``benchmarks/`` (``benchmarks/mocap/``) may
    import the private modules and names of that package, as a subpackage of ``pathreg`` its own.
Function length
    At most :data:`MAX_FUNCTION_LINES` lines from the ``def`` line to the function's last line, its
    own docstring not counted (nested functions count towards the enclosing one); stricter limits in
    :data:`FUNCTION_LINE_LIMITS`.
Public API
    Every function in ``pathreg.pp.__all__`` and ``pathreg.tl.__all__`` takes ``adata`` first (except
    those in :data:`NO_ADATA`, whose first parameter is their main argument) and everything else
    keyword-only (except the documented positional second arguments in :data:`POSITIONAL_SECOND`);
    a ``copy`` parameter is keyword-only, defaults to ``False`` and is mentioned in the docstring's
    Returns section. Every function in ``pathreg.pl.__all__`` has a ``show`` parameter and either an
    ``ax`` parameter or a Returns section that names a ``Figure``.
Documentation
    Every name in ``__all__`` of ``pathreg.pp``, ``tl``, ``pl``, ``models``, ``datasets`` (and
    ``metrics`` where it exists) is written in ``docs/api/``: as ``pathreg.<sub>.<name>`` anywhere, or
    as the bare name in a file that sets ``currentmodule``/``automodule``/``module`` to
    ``pathreg.<sub>``.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import itertools
import re
import textwrap
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import pytest

import pathreg

PACKAGE_DIR = Path(pathreg.__file__).resolve().parent
REPO = Path(__file__).resolve().parents[1]
BENCHMARKS_DIR = REPO / "benchmarks"
DOCS_API_DIR = REPO / "docs" / "api"

#: Default limit on the lines of a function, docstring excluded.
MAX_FUNCTION_LINES = 120
#: Stricter limits, by ``module:qualname``; each of these functions must exist.
FUNCTION_LINE_LIMITS = {"pathreg.tl._fit:fit_dynamics": 80}

#: Top-level private modules (first component under ``pathreg``) importable from anywhere.
SHARED_PRIVATE_MODULES = ("_settings", "_utils")
#: Top-level private modules importable only from the listed modules.
PRIVATE_MODULE_IMPORTERS = {"_demo": ("pathreg.cli",)}

#: Private attributes of other objects that may be used: ``"obj._attr"`` (exact source of the object)
#: or ``"._attr"`` (on any object), each with the reason.
ALLOWED_PRIVATE_ATTRIBUTES = {
    # AnnData has no public way to turn a view into an actual AnnData in place; this is what it does
    # itself on the first write to a view (pathreg._utils._anndata.ensure_actual).
    "._init_as_actual": "AnnData view -> actual AnnData in place",
    # ... nor to turn it back into the same view when a write fails (pathreg._utils._anndata.writing_into):
    # the view's parent and indices, and the view initialiser AnnData uses itself.
    "adata._adata_ref": "the parent of an AnnData view",
    "adata._oidx": "the observation index of an AnnData view",
    "adata._vidx": "the variable index of an AnnData view",
    "adata._init_as_view": "actual AnnData -> the same view again in place",
}

#: Public functions of pp and tl that take no AnnData, with the reason.
NO_ADATA = {
    "pathreg.pp.tf_list": "returns the list of transcription factors of a species; there is no AnnData to take",
    "pathreg.tl.fit_ensemble": "the engine step of the fit seam: takes the DynamicsProblem read from the AnnData",
    "pathreg.tl.build_member": "builds one untrained model for a DynamicsProblem; no AnnData involved",
}
#: Documented positional second arguments of public pp and tl functions.
POSITIONAL_SECOND = {
    "pathreg.pp.lineages": "paths",  # the lineages, as ordered cell types
    "pathreg.pp.fate_probabilities": "terminal",  # the terminal cells of each fate
    "pathreg.tl.perturb": "perturbations",  # gene -> clamped value
    "pathreg.tl.predict": "model",  # the fitted model to predict with
    "pathreg.tl.fit_ensemble": "settings",  # the FitSettings of the fit
    "pathreg.tl.build_member": "settings",  # the FitSettings of the fit
    "pathreg.tl.write_fit": "result",  # the FitResult to write
}

DOCUMENTED_SUBPACKAGES = ("pp", "tl", "pl", "models", "datasets", "metrics")


# ----------------------------------------------------------------------------------------------------
# reading the source


@dataclass(frozen=True)
class Module:
    """One ``.py`` file: its dotted name (a package is named after its folder) and its syntax tree."""

    name: str
    path: Path
    display: str  # the path as shown in messages
    is_package: bool
    tree: ast.Module


@dataclass(frozen=True)
class Import:
    """One imported module: ``import target`` or ``from target import names``, relative imports resolved."""

    importer: Module
    lineno: int
    target: str
    names: tuple[str, ...]  # the names of a from-import, () for a plain import
    is_from: bool
    type_checking: bool

    @property
    def where(self) -> str:
        return f"{self.importer.display}:{self.lineno}"


def is_private(name: str) -> bool:
    """One leading underscore: ``_x`` (not a dunder such as ``__version__``)."""
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def collect_modules(folder: Path, *, prefix: str | None = None, display_root: Path | None = None) -> dict[str, Module]:
    """Every ``.py`` file under ``folder``, by dotted name (``folder``'s own name, or ``prefix``, first)."""
    prefix = folder.name if prefix is None else prefix
    display_root = folder.parent if display_root is None else display_root
    modules = {}
    for path in sorted(folder.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        parts = [prefix, *path.relative_to(folder).with_suffix("").parts]
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        try:
            display = path.relative_to(display_root).as_posix()
        except ValueError:
            display = str(path)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        name = ".".join(parts)
        modules[name] = Module(name=name, path=path, display=display, is_package=is_package, tree=tree)
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class _ImportVisitor(ast.NodeVisitor):
    def __init__(self) -> None:
        self.found: list[tuple[ast.Import | ast.ImportFrom, bool]] = []
        self._type_checking = 0

    def visit_If(self, node: ast.If) -> None:
        if not _is_type_checking(node.test):
            self.generic_visit(node)
            return
        self._type_checking += 1
        for statement in node.body:
            self.visit(statement)
        self._type_checking -= 1
        for statement in node.orelse:
            self.visit(statement)

    def visit_Import(self, node: ast.Import) -> None:
        self.found.append((node, self._type_checking > 0))

    visit_ImportFrom = visit_Import


def resolve_relative(module: Module, level: int, name: str | None) -> str | None:
    """The absolute name of ``from {'.' * level}{name} import ...`` in ``module`` (None above the top)."""
    if level == 0:
        return name
    package = module.name.split(".") if module.is_package else module.name.split(".")[:-1]
    if level - 1 >= len(package):
        return None
    base = package[: len(package) - (level - 1)]
    return ".".join([*base, name] if name else base)


def iter_imports(module: Module) -> Iterator[Import]:
    """Every import statement of ``module``, module level or not, one :class:`Import` per imported module."""
    visitor = _ImportVisitor()
    visitor.visit(module.tree)
    for node, type_checking in visitor.found:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, node.lineno, alias.name, (), False, type_checking)
            continue
        target = resolve_relative(module, node.level, node.module)
        if target is not None:
            names = tuple(alias.name for alias in node.names)
            yield Import(module, node.lineno, target, names, True, type_checking)


def named_modules(imp: Import, known: Collection[str]) -> list[str]:
    """The modules an import names: its target and, of a from-import, the names that are modules."""
    submodules = [f"{imp.target}.{name}" for name in imp.names if f"{imp.target}.{name}" in known]
    return [imp.target, *submodules]


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(len(parts) - 1, 0, -1)]


# ----------------------------------------------------------------------------------------------------
# the checkers: each returns one line per offender


def import_graph(modules: Mapping[str, Module]) -> dict[tuple[str, str], Import]:
    """The edges of the import graph (see the module docstring), each with the first import making it."""
    edges: dict[tuple[str, str], Import] = {}
    for module in modules.values():
        for imp in iter_imports(module):
            if imp.type_checking:
                continue
            for target in named_modules(imp, modules):
                for node in [target, *_ancestors(target)]:
                    if node not in modules or node == module.name:
                        continue
                    if modules[node].is_package and module.name.startswith(node + "."):
                        continue  # into the __init__ of a package that contains the importer
                    edges.setdefault((module.name, node), imp)
    return edges


def import_cycles(modules: Mapping[str, Module], *, max_cycles: int = 200) -> list[str]:
    edges = import_graph(modules)
    graph = nx.DiGraph(list(edges))
    cycles = []
    for cycle in itertools.islice(nx.simple_cycles(graph), max_cycles):
        start = cycle.index(min(cycle))
        cycles.append(cycle[start:] + cycle[:start])
    offences = []
    for cycle in sorted(cycles):
        hops = [edges[(a, b)] for a, b in zip(cycle, cycle[1:] + cycle[:1], strict=True)]
        chain = " -> ".join([*cycle, cycle[0]])
        offences.append(f"{hops[0].where}: import cycle {chain} (imports at {', '.join(h.where for h in hops)})")
    if len(cycles) == max_cycles:
        offences.append(f"... and possibly more cycles (stopped after {max_cycles})")
    return offences


def private_name_imports(modules: Mapping[str, Module]) -> list[str]:
    offences = []
    for module in modules.values():
        for imp in iter_imports(module):
            for name in imp.names:
                if is_private(name) and f"{imp.target}.{name}" not in modules:
                    offences.append(f"{imp.where}: imports the private name {name} from {imp.target}")
    return offences


def _own_subpackage(module: Module) -> str | None:
    parts = module.name.split(".")
    depth = 2 if module.is_package else 3
    return parts[1] if len(parts) >= depth else None


def private_module_imports(
    modules: Mapping[str, Module],
    *,
    shared: Collection[str] = SHARED_PRIVATE_MODULES,
    importers: Mapping[str, Collection[str]] = PRIVATE_MODULE_IMPORTERS,
) -> list[str]:
    """Imports of ``top.B._x`` from outside subpackage ``B`` (``shared`` and ``importers``: the exceptions)."""
    offences = []
    for module in modules.values():
        top = module.name.split(".")[0]
        own = _own_subpackage(module)
        for imp in iter_imports(module):
            for target in named_modules(imp, modules):
                parts = target.split(".")
                if parts[0] != top or len(parts) < 2 or not any(map(is_private, parts[1:])):
                    continue
                if parts[1] == own or parts[1] in shared or module.name in importers.get(parts[1], ()):
                    continue
                offences.append(f"{imp.where}: {module.name} imports {target}, a private module of another subpackage")
    return offences


def private_attribute_accesses(
    modules: Mapping[str, Module], *, allowed: Collection[str] = tuple(ALLOWED_PRIVATE_ATTRIBUTES)
) -> list[str]:
    offences = []
    for module in modules.values():
        found = []
        for node in ast.walk(module.tree):
            if not isinstance(node, ast.Attribute) or not is_private(node.attr):
                continue
            value = node.value
            if isinstance(value, ast.Name) and value.id in ("self", "cls"):
                continue
            if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "super":
                continue
            source = ast.unparse(value)
            if f"{source}.{node.attr}" in allowed or f".{node.attr}" in allowed:
                continue
            found.append((node.lineno, node.col_offset, f"{source}.{node.attr}"))
        offences += [f"{module.display}:{line}: {what} uses a private attribute" for line, _, what in sorted(found)]
    return offences


def _script_package(module: Module) -> str | None:
    """The package in the scripts' folder that ``module`` belongs to (``benchmarks.mocap``); None for a script."""
    parts = module.name.split(".")
    depth = 2 if module.is_package else 3
    return ".".join(parts[:2]) if len(parts) >= depth else None


def script_private_imports(scripts: Mapping[str, Module], *, package: str = "pathreg") -> list[str]:
    """Imports in standalone scripts of private modules or names of ``package`` or of the scripts themselves.

    ``scripts`` come from :func:`collect_modules` on the scripts' folder; a script imports its siblings
    either as top-level modules (the folder is on ``sys.path``) or through the folder's name. The modules
    of a package in the folder may import anything of that package.
    """
    folder = {name.split(".")[0] for name in scripts}
    local = folder | {name.split(".")[1] for name in scripts if "." in name}
    offences = []
    for module in scripts.values():
        own = _script_package(module)
        for imp in iter_imports(module):
            root = imp.target.split(".")[0]
            if root != package and root not in local:
                continue
            if own is not None and f"{imp.target}.".startswith(f"{own}."):
                continue  # the private modules and names of its own package
            for target in named_modules(imp, scripts):
                private = [part for part in target.split(".") if is_private(part)]
                if private:
                    offences.append(f"{imp.where}: imports {target}, a private module")
            for name in imp.names:
                if is_private(name) and f"{imp.target}.{name}" not in scripts:
                    offences.append(f"{imp.where}: imports the private name {name} from {imp.target}")
    return offences


def _docstring_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    first = node.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        return first.end_lineno - first.lineno + 1
    return 0


def function_lengths(module: Module) -> Iterator[tuple[str, int, int]]:
    """``(qualname, def line, lines without the docstring)`` of every function and method."""

    def visit(node: ast.AST, prefix: str) -> Iterator[tuple[str, int, int]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                qualname = prefix + child.name
                yield qualname, child.lineno, child.end_lineno - child.lineno + 1 - _docstring_lines(child)
                yield from visit(child, f"{qualname}.<locals>.")
            elif isinstance(child, ast.ClassDef):
                yield from visit(child, f"{prefix}{child.name}.")
            else:
                yield from visit(child, prefix)

    yield from visit(module.tree, "")


def long_functions(
    modules: Mapping[str, Module],
    *,
    max_lines: int = MAX_FUNCTION_LINES,
    limits: Mapping[str, int] = FUNCTION_LINE_LIMITS,
) -> list[str]:
    offences, seen = [], set()
    for module in modules.values():
        for qualname, lineno, length in function_lengths(module):
            key = f"{module.name}:{qualname}"
            seen.add(key)
            limit = limits.get(key, max_lines)
            if length > limit:
                offences.append(f"{module.display}:{lineno}: {qualname} has {length} lines (at most {limit})")
    offences += [f"{key}: has a line limit of {limits[key]} but does not exist" for key in limits if key not in seen]
    return offences


def docstring_section(doc: str | None, title: str) -> str | None:
    """The text of a numpydoc section (``title`` underlined with dashes), or None."""
    lines = inspect.cleandoc(doc or "").splitlines()

    def is_header(i: int) -> bool:
        underline = lines[i + 1].strip() if i + 1 < len(lines) else ""
        return bool(lines[i].strip()) and len(underline) >= 3 and set(underline) == {"-"}

    for i, line in enumerate(lines):
        if line.strip() == title and is_header(i):
            end = next((j for j in range(i + 2, len(lines)) if is_header(j)), len(lines))
            return "\n".join(lines[i + 2 : end])
    return None


def _where(func: Callable) -> str:
    try:
        path = Path(inspect.getsourcefile(func)).resolve()
        lineno = inspect.getsourcelines(func)[1]
    except (OSError, TypeError):
        return "?"
    try:
        return f"{path.relative_to(REPO).as_posix()}:{lineno}"
    except ValueError:
        return f"{path}:{lineno}"


def tool_offences(
    name: str, func: Callable, *, takes_adata: bool = True, positional_second: str | None = None
) -> list[str]:
    """Offences of a public ``pp``/``tl`` function against scanpy's conventions (``name``: for messages)."""
    where, offences = _where(func), []
    parameters = list(inspect.signature(func).parameters.values())
    if takes_adata and (not parameters or parameters[0].name != "adata"):
        first = parameters[0].name if parameters else "nothing"
        offences.append(f"{where}: {name} takes {first} first, not adata")
    rest = parameters[1:]  # the first parameter (adata, or the main argument of a function without one)
    if positional_second is not None and rest and rest[0].name == positional_second:
        rest = rest[1:]
    for parameter in rest:
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD, parameter.VAR_POSITIONAL):
            offences.append(f"{where}: {name} takes {parameter.name} positionally; make it keyword-only")
    copy = inspect.signature(func).parameters.get("copy")
    if copy is not None:
        if copy.kind is not copy.KEYWORD_ONLY:
            offences.append(f"{where}: {name}'s copy is not keyword-only")
        if copy.default is not False:
            offences.append(f"{where}: {name}'s copy defaults to {copy.default!r}, not False")
        returns = docstring_section(func.__doc__, "Returns")
        if returns is None or not re.search(r"\bcopy\b", returns):
            offences.append(f"{where}: {name} takes copy, but its docstring's Returns section does not mention it")
    return offences


def plot_offences(name: str, func: Callable) -> list[str]:
    """Offences of a public ``pl`` function: no ``show``; neither ``ax`` nor a Figure returned."""
    where, offences = _where(func), []
    parameters = inspect.signature(func).parameters
    if "show" not in parameters:
        offences.append(f"{where}: {name} has no show parameter")
    returns = docstring_section(func.__doc__, "Returns") or ""
    if "ax" not in parameters and not re.search(r"\bFigure\b", returns):
        offences.append(f"{where}: {name} has no ax parameter and its docstring does not say it returns a Figure")
    return offences


def undocumented(public: Mapping[str, Collection[str]], docs_dir: Path) -> list[str]:
    """Names in ``public`` (module -> ``__all__``) that ``docs_dir`` does not mention (see the module docstring)."""
    texts = {path: path.read_text(encoding="utf-8") for path in sorted(docs_dir.rglob("*")) if path.is_file()}
    try:
        label = docs_dir.resolve().relative_to(REPO).as_posix()
    except ValueError:
        label = docs_dir.name
    offences = []
    for module, names in public.items():
        about = re.compile(rf"(currentmodule|automodule|module)::\s*{re.escape(module)}\s*$", re.MULTILINE)
        own = [text for text in texts.values() if about.search(text)]
        for name in names:
            full = re.compile(rf"(?<![\w.]){re.escape(module)}\.{re.escape(name)}(?!\w)")
            bare = re.compile(rf"(?<![\w.]){re.escape(name)}(?![\w])")
            if not any(full.search(text) for text in texts.values()) and not any(bare.search(t) for t in own):
                offences.append(f"{module}.{name}: in __all__ but in no file under {label}/")
    return offences


def _fail_on(offences: list[str], what: str) -> None:
    assert not offences, f"{len(offences)} {what}:\n" + "\n".join(offences)


# ----------------------------------------------------------------------------------------------------
# the checkers on a fake package


def _write(root: Path, files: Mapping[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


@pytest.fixture
def fake(tmp_path) -> dict[str, Module]:
    """A package ``fake`` with one of each offence, and layouts that must not count."""
    _write(
        tmp_path / "src" / "fake",
        {
            "__init__.py": """
                from typing import TYPE_CHECKING
                from ._settings import logger
                from . import a, b, c, d
                from .__about__ import __version__
                if TYPE_CHECKING:
                    from .e import _hidden
            """,
            "__about__.py": "__version__ = '1'\n",
            "_settings.py": "logger = None\n",
            "_demo.py": "import fake\n",
            "cli.py": """
                def main():
                    from fake._demo import run
                    from fake.a._one import one
            """,
            # a: re-exports; its modules import the package, their siblings and fake._settings: no cycle
            "a/__init__.py": "from ._one import one\nfrom ._two import two\n",
            "a/_one.py": """
                import fake
                from fake.a import two
                from .. import _settings
                from .._settings import logger
                from . import _two
                def one(): ...
            """,
            "a/_two.py": "from fake.a import one\ndef two(): ...\n",
            # b and c: a cycle through a function-level import, private names, another's private module
            "b/__init__.py": "from ._three import three\n",
            "b/_three.py": """
                from fake.c._four import four, _secret
                def three(): ...
            """,
            "c/__init__.py": "",
            "c/_four.py": """
                def four():
                    from ..b import _three
                _secret = 1
            """,
            # d: a cycle through another package's __init__ (implied by importing its submodule)
            "d/__init__.py": "from ._five import five\n",
            "d/_five.py": "from fake.e._six import six\ndef five(): ...\n",
            "e/__init__.py": "",
            "e/_six.py": """
                from typing import TYPE_CHECKING
                import fake.d._seven
                if TYPE_CHECKING:
                    from fake.d._five import five
                def six(): ...
            """,
            "d/_seven.py": "import fake.e._six\n",
            "e/_attributes.py": """
                import sys
                class Thing:
                    def method(self, other, adata):
                        self._ok = cls_ok = super()._fine()
                        other._bad()
                        self.child._worse = 1
                        adata._init_as_actual(adata.copy())
                        return sys._getframe(), other.__class__, type(other).__name__
                    @classmethod
                    def make(cls):
                        return cls._registry
            """,
        },
    )
    return collect_modules(tmp_path / "src" / "fake", display_root=tmp_path)


def test_imports_are_resolved(fake):
    imports = {(imp.importer.name, imp.target, imp.names) for imp in iter_imports(fake["fake.a._one"])}
    assert imports == {
        ("fake.a._one", "fake", ()),
        ("fake.a._one", "fake.a", ("two",)),
        ("fake.a._one", "fake", ("_settings",)),
        ("fake.a._one", "fake._settings", ("logger",)),
        ("fake.a._one", "fake.a", ("_two",)),
    }
    (init_import,) = [imp for imp in iter_imports(fake["fake"]) if imp.names == ("a", "b", "c", "d")]
    assert init_import.target == "fake"
    assert named_modules(init_import, fake) == ["fake", "fake.a", "fake.b", "fake.c", "fake.d"]
    assert [imp.type_checking for imp in iter_imports(fake["fake.e._six"]) if imp.target == "fake.d._five"] == [True]


def test_import_graph_and_cycles(fake):
    edges = import_graph(fake)
    assert ("fake.a._one", "fake.a._two") in edges
    assert ("fake.a._one", "fake._settings") in edges
    assert ("fake.d._seven", "fake.e") in edges  # the package above an imported module
    assert not [edge for edge in edges if edge[1] in ("fake", "fake.a") and edge[0].startswith(edge[1] + ".")]
    assert ("fake.e._six", "fake.d._five") not in edges  # only under TYPE_CHECKING
    cycles = import_cycles(fake)
    assert [offence.split(": import cycle ")[1].split(" (")[0] for offence in cycles] == [
        "fake.b -> fake.b._three -> fake.c._four -> fake.b",
        "fake.b._three -> fake.c._four -> fake.b._three",
        "fake.d -> fake.d._five -> fake.e._six -> fake.d",
        "fake.d._seven -> fake.e._six -> fake.d._seven",
    ]
    assert cycles[1].startswith("src/fake/b/_three.py:2: import cycle")
    assert "src/fake/c/_four.py:3" in cycles[1]


def test_private_name_imports_found(fake):
    assert private_name_imports(fake) == [
        "src/fake/__init__.py:7: imports the private name _hidden from fake.e",
        "src/fake/b/_three.py:2: imports the private name _secret from fake.c._four",
    ]


def test_private_module_imports_found(fake):
    assert private_module_imports(fake, shared=("_settings",), importers={"_demo": ("fake.cli",)}) == [
        "src/fake/b/_three.py:2: fake.b._three imports fake.c._four, a private module of another subpackage",
        "src/fake/c/_four.py:3: fake.c._four imports fake.b._three, a private module of another subpackage",
        "src/fake/cli.py:4: fake.cli imports fake.a._one, a private module of another subpackage",
        "src/fake/d/_five.py:1: fake.d._five imports fake.e._six, a private module of another subpackage",
        "src/fake/d/_seven.py:1: fake.d._seven imports fake.e._six, a private module of another subpackage",
        "src/fake/e/_six.py:3: fake.e._six imports fake.d._seven, a private module of another subpackage",
        "src/fake/e/_six.py:5: fake.e._six imports fake.d._five, a private module of another subpackage",
    ]
    assert "fake.cli imports fake._demo" in "\n".join(private_module_imports(fake, shared=("_settings",), importers={}))


def test_private_attribute_accesses_found(fake):
    attributes = {"fake.e._attributes": fake["fake.e._attributes"]}
    assert private_attribute_accesses(attributes) == [
        "src/fake/e/_attributes.py:6: other._bad uses a private attribute",
        "src/fake/e/_attributes.py:7: self.child._worse uses a private attribute",
        "src/fake/e/_attributes.py:9: sys._getframe uses a private attribute",
    ]
    assert len(private_attribute_accesses(attributes, allowed=("sys._getframe",))) == 3  # _init_as_actual too


def test_script_private_imports_found(tmp_path):
    _write(
        tmp_path / "benchmarks",
        {
            "run.py": """
                import pathreg
                import numpy._core
                from pathreg.models import fit
                from pathreg.tl._fit import fit_dynamics
                from pathreg import _settings
                def main():
                    from pathreg.tl import _prepare
                    from common import table
                    from _shared import helper
                    from common import _internal
                    from benchmarks import _shared
            """,
            "common.py": "table = None\n_internal = None\n",
            "_shared.py": "helper = None\n",
            # a package may import its own private modules and names, but not those of others
            "pack/__init__.py": """
                from benchmarks.pack._settings import SETTING
                from ._steps import step
            """,
            "pack/_settings.py": "SETTING = 1\n",
            "pack/_steps.py": """
                from benchmarks import pack
                from benchmarks.pack import _settings
                from benchmarks.pack._settings import _HELPER, SETTING
                from benchmarks import _shared
                from benchmarks.packed._x import y
                from pathreg import _utils
            """,
            "use_pack.py": """
                from benchmarks.pack import step
                from benchmarks.pack._steps import step
            """,
        },
    )
    scripts = collect_modules(tmp_path / "benchmarks")
    assert script_private_imports(scripts) == [
        "benchmarks/pack/_steps.py:5: imports benchmarks._shared, a private module",
        "benchmarks/pack/_steps.py:6: imports benchmarks.packed._x, a private module",
        "benchmarks/pack/_steps.py:7: imports the private name _utils from pathreg",
        "benchmarks/run.py:5: imports pathreg.tl._fit, a private module",
        "benchmarks/run.py:6: imports the private name _settings from pathreg",
        "benchmarks/run.py:8: imports the private name _prepare from pathreg.tl",
        "benchmarks/run.py:10: imports _shared, a private module",
        "benchmarks/run.py:11: imports the private name _internal from common",
        "benchmarks/run.py:12: imports benchmarks._shared, a private module",
        "benchmarks/use_pack.py:3: imports benchmarks.pack._steps, a private module",
    ]


def test_long_functions_found(tmp_path):
    body = "".join(f"    x{i} = {i}\n" for i in range(117))
    docstring = '    """Many\n' + "    lines.\n" * 30 + '    """\n'
    _write(
        tmp_path / "pkg",
        {
            "__init__.py": "",
            "_mod.py": f"def short():\n{docstring}{body}    return 0\n\n\n"  # 1 + 117 + 1 = 119 lines
            f"def long():\n{body}    x = 1\n    y = 2\n    return 0\n\n\n"  # 121
            f"class A:\n    def method(self):\n{textwrap.indent(body, '    ')}        return 0\n\n"
            "    def limited(self):\n" + "        pass\n" * 9,  # 10
        },
    )
    modules = collect_modules(tmp_path / "pkg")
    lengths = {name: length for name, _, length in function_lengths(modules["pkg._mod"])}
    assert lengths == {"short": 119, "long": 121, "A.method": 119, "A.limited": 10}
    assert long_functions(modules, limits={"pkg._mod:A.limited": 9, "pkg._mod:gone": 5}) == [
        "pkg/_mod.py:154: long has 121 lines (at most 120)",
        "pkg/_mod.py:398: A.limited has 10 lines (at most 9)",
        "pkg._mod:gone: has a line limit of 5 but does not exist",
    ]


def test_api_conventions_found():
    def good(adata, second, *, key: str = "x", copy: bool = False):
        """Do it.

        Returns
        -------
        ``None``, or a copy if ``copy=True``.
        """

    def bad(data, key="x", *args, copy=True):
        """Do it.

        Returns
        -------
        Nothing.

        Notes
        -----
        ``copy`` is mentioned here only.
        """

    def no_adata(species="human"):
        """A list."""

    assert tool_offences("good", good, positional_second="second") == []
    assert [line.split(": ", 1)[1] for line in tool_offences("good", good)] == [
        "good takes second positionally; make it keyword-only"
    ]
    assert [line.split(": ", 1)[1] for line in tool_offences("bad", bad)] == [
        "bad takes data first, not adata",
        "bad takes key positionally; make it keyword-only",
        "bad takes args positionally; make it keyword-only",
        "bad's copy defaults to True, not False",
        "bad takes copy, but its docstring's Returns section does not mention it",
    ]
    assert tool_offences("no_adata", no_adata, takes_adata=False) == []
    assert len(tool_offences("no_adata", no_adata)) == 1
    assert tool_offences("bad", bad)[0].startswith("tests/test_package_structure.py:")

    def plot_ax(adata, *, ax=None, show=None):
        """Plot."""

    def plot_figure(adata, *, axes=None, show=None):
        """Plot.

        Returns
        -------
        The :class:`~matplotlib.figure.Figure` if ``show=False``.
        """

    def plot_neither(adata, *, axes=None):
        """Plot.

        Returns
        -------
        The axes.

        See Also
        --------
        Figure
        """

    assert plot_offences("plot_ax", plot_ax) == []
    assert plot_offences("plot_figure", plot_figure) == []
    assert [line.split(": ", 1)[1] for line in plot_offences("plot_neither", plot_neither)] == [
        "plot_neither has no show parameter",
        "plot_neither has no ax parameter and its docstring does not say it returns a Figure",
    ]


def test_undocumented_found(tmp_path):
    _write(
        tmp_path / "api",
        {
            "tl.md": "```{eval-rst}\n.. currentmodule:: pkg.tl\n\n.. autosummary::\n\n   fit\n```\n",
            "other.md": "Also see `pkg.pl.scatter` and predict (not about pkg.tl).\n",
        },
    )
    public = {"pkg.tl": ["fit", "predict"], "pkg.pl": ["scatter", "fit"]}
    assert undocumented(public, tmp_path / "api") == [
        "pkg.tl.predict: in __all__ but in no file under api/",
        "pkg.pl.fit: in __all__ but in no file under api/",
    ]


# ----------------------------------------------------------------------------------------------------
# the checkers on pathreg


@pytest.fixture(scope="module")
def package() -> dict[str, Module]:
    return collect_modules(PACKAGE_DIR, display_root=PACKAGE_DIR.parents[1])


@pytest.fixture(scope="module")
def scripts() -> dict[str, Module]:
    if not BENCHMARKS_DIR.is_dir():
        pytest.skip(f"no {BENCHMARKS_DIR.name}/ folder in this checkout")
    modules = collect_modules(BENCHMARKS_DIR, display_root=REPO)
    if not modules:
        pytest.skip(f"no Python scripts in {BENCHMARKS_DIR.name}/")
    return modules


def test_package_found(package):
    assert {"pathreg", "pathreg.tl", "pathreg.tl._fit", "pathreg.models"} <= set(package)


def test_no_import_cycles(package):
    _fail_on(import_cycles(package), "import cycles among the modules of pathreg")


def test_no_private_names_imported(package):
    _fail_on(private_name_imports(package), "imports of private names from other modules")


def test_no_private_modules_of_other_subpackages_imported(package):
    _fail_on(private_module_imports(package), "imports of another subpackage's private modules")


def test_no_private_attributes_of_other_objects(package):
    _fail_on(private_attribute_accesses(package), "accesses of another object's private attribute")


def test_benchmark_scripts_import_public_names_only(scripts):
    _fail_on(script_private_imports(scripts), "imports of private modules or names in benchmarks/")


def test_functions_are_short(package):
    _fail_on(long_functions(package), "functions that are too long")


def _public(subpackage: str) -> dict[str, object]:
    module = importlib.import_module(f"pathreg.{subpackage}")
    return {f"pathreg.{subpackage}.{name}": getattr(module, name) for name in module.__all__}


def test_tools_follow_api_conventions():
    offences = []
    for name, obj in {**_public("pp"), **_public("tl")}.items():
        if inspect.isfunction(obj):
            takes_adata = name not in NO_ADATA
            offences += tool_offences(name, obj, takes_adata=takes_adata, positional_second=POSITIONAL_SECOND.get(name))
    _fail_on(offences, "departures of pp and tl functions from the API conventions")


def test_plots_follow_api_conventions():
    offences = []
    for name, obj in _public("pl").items():
        if inspect.isfunction(obj):
            offences += plot_offences(name, obj)
    _fail_on(offences, "departures of pl functions from the API conventions")


def test_public_names_documented():
    if not DOCS_API_DIR.is_dir():
        pytest.skip("no docs/api/ in this checkout")
    public = {}
    for subpackage in DOCUMENTED_SUBPACKAGES:
        if importlib.util.find_spec(f"pathreg.{subpackage}") is None:
            continue
        public[f"pathreg.{subpackage}"] = importlib.import_module(f"pathreg.{subpackage}").__all__
    _fail_on(undocumented(public, DOCS_API_DIR), "public names missing from docs/api/")
