"""``motif-tune init NAME``: a small working project of a team's own: an env module with
a Gymnasium env and a metrics callback, its ``conf/env/NAME.yaml``, a sweep file
``sweeps/NAME.yaml`` and a short README. The project sweeps as it is written."""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from pathlib import Path

from motif_tune.errors import ConfigError
from motif_tune.text import relative

TEMPLATES = Path(__file__).resolve().parents[1] / "project_template"
_NAME = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class NewProject:
    """What ``init`` wrote, and the command that sweeps it."""

    name: str
    folder: Path
    files: tuple[Path, ...]

    def render(self) -> str:
        lines = [f"Wrote a motif-tune project '{self.name}' in {self.folder}:"]
        lines += [f"  {relative(path)}" for path in self.files]
        lines.append(f"Sweep it: motif-tune sweep sweep={self.name}")
        return "\n".join(lines)


def init_project(name: str, folder: Path) -> NewProject:
    """Write the project's files into ``folder``; nothing is written when ``name`` is not
    a plain lowercase name or any of the files exists."""
    if not _NAME.fullmatch(name):
        raise ConfigError(
            f"init NAME must be a lowercase name of letters, digits and underscores that "
            f"starts with a letter (it names a Python module), got '{name}'."
        )
    words = {
        "name": name,
        "module": f"{name}_env",
        "cls": _camel(name) + "Env",
        "callback": _camel(name) + "Metrics",
        "metric": "hit_rate",
        "title": name.replace("_", " ").capitalize(),
    }
    targets = {
        TEMPLATES / "env.py.tmpl": folder / f"{words['module']}.py",
        TEMPLATES / "env.yaml.tmpl": folder / "conf" / "env" / f"{name}.yaml",
        TEMPLATES / "sweep.yaml.tmpl": folder / "sweeps" / f"{name}.yaml",
        TEMPLATES / "README.md.tmpl": folder / "README.md",
    }
    taken = [relative(path) for path in targets.values() if path.exists()]
    if taken:
        raise ConfigError(
            f"init {name}: {', '.join(taken)} already exist{'s' if len(taken) == 1 else ''}; "
            "choose another name or folder (project_dir=…), nothing was written."
        )
    for template, path in targets.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(string.Template(template.read_text()).substitute(words))
    return NewProject(name, folder, tuple(targets.values()))


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_") if part)
