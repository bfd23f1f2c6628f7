"""Imports run one way, down the pipeline: collect -> parse -> timeline -> diagnosis -> render,
triage on top, the CLI above all (ARCHITECTURE.md). Every import of azdiag/ is read from the
source (those inside functions and under TYPE_CHECKING too) and none may run back up."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "azdiag"

#: Layer of each top-level part of azdiag; a module may import its own layer and those below.
LAYERS = {
    "common": 0,
    "exit_status": 0,  # a table of exit codes, importing nothing
    "knowledge": 1,
    "collect": 2,
    "parse": 3,
    "timeline": 4,
    "diagnosis": 5,
    "render": 6,
    "triage": 7,
    "simulate": 7,
    "cli": 9,
    "__main__": 9,
}

#: The one import that runs up, lazily, on purpose: an Analysis shown in a notebook renders its
#: own verdict (``Analysis._repr_html_``), so the timeline's product calls diagnosis and render
#: only when Jupyter displays it.
ALLOWED_UP = {
    ("azdiag.timeline.analysis", "azdiag.diagnosis.engine"),
    ("azdiag.timeline.analysis", "azdiag.render.html"),
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> int | None:
    """The layer of ``azdiag.x.y``; None for the package root (it only holds the version and
    imports its public names lazily)."""
    parts = module.split(".")
    if parts[0] != "azdiag" or len(parts) == 1:
        return None
    return LAYERS[parts[1]]


def _imports(path: Path, module: str) -> list[tuple[int, str]]:
    """(line, imported module) for every azdiag import in ``path``, wherever it stands."""
    found = []
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target == "azdiag":  # from azdiag import x: x is a module or __version__
                found += [
                    (node.lineno, f"azdiag.{a.name}" if a.name in LAYERS else "azdiag")
                    for a in node.names
                ]
            else:
                found.append((node.lineno, target))
    return [(line, name) for line, name in found if name.split(".")[0] == "azdiag"]


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_part_of_the_package_has_a_layer() -> None:
    tops = {p.relative_to(PACKAGE).parts[0].removesuffix(".py") for p in _modules()}
    assert tops - {"__init__"} == set(LAYERS)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_import_runs_back_up_the_pipeline(path: Path) -> None:
    module = _module_name(path)
    own = _layer(module)
    up = [
        f"line {line}: {name}"
        for line, name in _imports(path, module)
        if own is not None
        and (layer := _layer(name)) is not None
        and layer > own
        and (module, name) not in ALLOWED_UP
    ]
    assert not up, f"{module} imports a later stage: {up}"


def test_the_walk_sees_an_import_up_inside_a_function(tmp_path: Path) -> None:
    """The check itself can fail: a lazy import of the CLI from the collect stage is found."""
    source = tmp_path / "x.py"
    source.write_text("def f():\n    from azdiag.cli import main\n    from . import sibling\n")
    found = _imports(source, "azdiag.collect.x")
    assert found == [(2, "azdiag.cli"), (3, "azdiag.collect")]
    assert _layer("azdiag.cli") > _layer("azdiag.collect.x")  # type: ignore[operator]
