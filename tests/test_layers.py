"""The package's layers import only downwards, no module imports itself in a circle, and
MLflow is imported in one room only."""

from __future__ import annotations

import ast
from pathlib import Path

import motif_tune

PACKAGE = Path(motif_tune.__file__).parent
# Bottom to top: a module may import its own layer or any layer below it.
LAYERS = [
    "base",
    "config",
    "envs",
    "rllib",
    "search",
    "runtime",
    "tracking",
    "pipeline",
    "commands",
    "cli",
]
BASE_MODULES = {
    "motif_tune.errors",
    "motif_tune.results",
    "motif_tune.text",
    "motif_tune.secrets",
    "motif_tune.stores",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int:
    if module in BASE_MODULES or module.startswith("motif_tune.compat"):
        return LAYERS.index("base")
    if module in (
        "motif_tune",
        "motif_tune.api",
        "motif_tune.cli",
        "motif_tune.__main__",
        "motif_tune.help",
    ):
        return LAYERS.index("cli")
    return LAYERS.index(module.split(".")[1])


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports (any package), at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def imports_of(path: Path) -> set[str]:
    """Every motif_tune module ``path`` imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("motif_tune")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("motif_tune"):
            for alias in node.names:
                name = f"{node.module}.{alias.name}"
                found.add(
                    name
                    if (PACKAGE.parent / name.replace(".", "/")).exists()
                    or (PACKAGE.parent / f"{name.replace('.', '/')}.py").exists()
                    else node.module
                )
    return found


GRAPH = {module_name(p): imports_of(p) for p in sorted(PACKAGE.rglob("*.py"))}


def test_every_module_belongs_to_a_layer():
    for module in GRAPH:
        assert 0 <= layer_of(module) < len(LAYERS), module


def test_no_module_imports_a_layer_above_its_own():
    upward = [
        f"{module} -> {target}"
        for module, targets in GRAPH.items()
        for target in targets
        if layer_of(target) > layer_of(module)
    ]
    assert upward == []


def test_no_import_cycle():
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        for target in sorted(GRAPH.get(module, ())):
            if target == module:
                continue
            if target in path:
                cycles.append([*path[path.index(target) :], target])
            elif target not in done:
                visit(target, [*path, target])
        done.add(module)

    done: set[str] = set()
    for module in sorted(GRAPH):
        if module not in done:
            visit(module, [module])
    assert cycles == []


def test_the_layer_walk_sees_imports_inside_functions():
    assert "motif_tune.commands" in GRAPH["motif_tune.cli"]
    assert "motif_tune.pipeline.sweep" in GRAPH["motif_tune.commands"]  # inside a function
    assert "motif_tune.config.schema" in GRAPH["motif_tune.config.loading"]


def test_mlflow_is_imported_only_under_tracking():
    """One room talks to MLflow; the others ask it (the compat door excepted)."""
    outside = [
        f"{module_name(path)} imports {name}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if not module_name(path).startswith(("motif_tune.tracking", "motif_tune.compat"))
        for name in imported_modules(path)
        if name == "mlflow" or name.startswith("mlflow.")
    ]
    assert outside == []
