"""Other libraries' private names: each behind its library's door in ``motif_tune.compat``,
each still there in the pinned versions, and none anywhere else in the package."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

import motif_tune
from motif_tune.compat import mlflow as compat_mlflow
from motif_tune.compat import python as compat_python
from motif_tune.compat import ray as compat_ray

PACKAGE = Path(motif_tune.__file__).parent
DOORS = {"python": compat_python, "ray": compat_ray, "mlflow": compat_mlflow}
# Private attributes of the project's own making (its mark on sys), and CPython's
# documented os._exit.
OWN = {"_motif_tune_forwarded", "_exit"}


def resolve(path: str) -> object:
    """The object at a dotted path: the longest importable module, then attributes."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            found = getattr(found, name)
        return found
    raise ImportError(path)


@pytest.mark.parametrize(
    "private",
    [name for door in DOORS.values() for name in door.PRIVATE_NAMES],
    ids=lambda private: private.path,
)
def test_every_private_name_exists_in_the_pinned_versions(private):
    """An upgrade that drops one fails here, with the public API that would replace it."""
    try:
        if private.instance:  # set on each instance: the class's __init__ sets it
            source = inspect.getsource(resolve(private.owner).__init__)
            if f"self.{private.name} =" not in source:
                raise AttributeError(f"{private.owner}.__init__ no longer sets it")
        else:
            resolve(private.path)
    except (ImportError, AttributeError) as err:
        pytest.fail(f"{private.path} is gone ({err}); public replacement: {private.public}")
    assert private.why and private.public


def test_each_door_names_what_it_uses():
    """Every private name a door's code touches is listed in its PRIVATE_NAMES."""
    for library, door in DOORS.items():
        listed = {p.name for p in door.PRIVATE_NAMES}
        listed |= {
            part for p in door.PRIVATE_NAMES for part in p.owner.split(".") if _private(part)
        }
        used = {name for name, _ in private_uses(Path(door.__file__))}
        assert used <= listed | OWN, (library, used - listed)


def private_uses(path: Path) -> list[tuple[str, int]]:
    """Private names of other packages a module reaches for: ``from x._y import z``,
    ``from x import _z``, ``import x._y`` and ``something._name`` on anything but the
    module's own objects (``self``, ``cls``)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            if node.module.startswith("motif_tune"):
                continue
            found += [(p, node.lineno) for p in node.module.split(".") if _private(p)]
            found += [(a.name, node.lineno) for a in node.names if _private(a.name)]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                found += [(p, node.lineno) for p in alias.name.split(".") if _private(p)]
        elif isinstance(node, ast.Attribute) and _private(node.attr):
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                continue
            found.append((node.attr, node.lineno))
    return found


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_no_module_outside_the_doors_uses_a_private_name():
    outside = [
        f"{path.relative_to(PACKAGE.parent)}:{line} {name}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if "compat" not in path.parts
        for name, line in private_uses(path)
        if name not in OWN
    ]
    assert outside == []
