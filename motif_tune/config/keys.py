"""Every setting a command line may name, and the nearest ones to a mistyped key.

Checked before Hydra composes anything, so ``env.noise=-1`` (the setting is
``env.env_config.noise``) gets one sentence naming the right key instead of
Hydra's advice to add a key nothing reads.
"""

from __future__ import annotations

import difflib
from functools import cache

from pydantic import BaseModel

from motif_tune.config.schema import Settings, is_setting
from motif_tune.config.sources import CONFIG_GROUPS, ConfigSources, sources
from motif_tune.results import flatten


def unknown_setting(key: str) -> str:
    """``Unknown setting 'env.noise' (did you mean env.env_config.noise?); 'env' accepts …``"""
    near = nearest_keys(key)
    hint = f" (did you mean {' or '.join(near)}?)" if near else ""
    parent = key.rpartition(".")[0]
    where = f"'{parent}'" if parent else "the top level"
    return f"Unknown setting '{key}'{hint}; {where} accepts {accepted_keys(parent)}."


def nearest_keys(key: str, count: int = 3) -> list[str]:
    """Known keys near ``key``: in its own section first (``env.noise`` ->
    ``env.env_config.noise``, ``tracking.metric`` -> ``tracking.metrics``), then anywhere."""
    keys = sorted(known_keys() - {key})
    last = key.rsplit(".", 1)[-1]
    section = key.split(".", 1)[0] + "."
    own = [k for k in keys if k.startswith(section)]

    def named_alike(candidates: list[str]) -> list[str]:
        return [k for k in candidates if k.rsplit(".", 1)[-1] == last]

    def similar(candidates: list[str]) -> list[str]:
        return difflib.get_close_matches(key, candidates, n=count, cutoff=0.75)

    ranked = [*named_alike(own), *similar(own), *named_alike(keys), *similar(keys)]
    return list(dict.fromkeys(ranked))[:count]


def accepted_keys(parent: str) -> str:
    """The keys a section of the settings has (its schema fields)."""
    model: type[BaseModel] = Settings
    for part in [p for p in parent.split(".") if p]:
        field = model.model_fields.get(part)
        annotation = getattr(field, "annotation", None)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
        else:
            return "its documented keys"
    return ", ".join(sorted(f.alias or n for n, f in model.model_fields.items() if n != "composed"))


def known_keys() -> frozenset[str]:
    """The schema's settings and every key the config files set (shipped and the
    project's)."""
    return _known_keys(sources())


@cache
def _known_keys(config_sources: ConfigSources) -> frozenset[str]:
    from omegaconf import OmegaConf

    keys = set(_schema_paths(Settings, ""))
    primary = OmegaConf.to_container(OmegaConf.load(config_sources.primary_file()))
    keys |= {k for k in flatten(primary, ".") if not k.startswith(("defaults", "hydra"))}
    for group in CONFIG_GROUPS:
        for path in config_sources.group_files(group).values():
            data = OmegaConf.to_container(OmegaConf.load(path)) or {}
            nested = data if group == "sweep" else {group: data}  # sweep files are global
            keys |= set(flatten(nested, "."))
    return frozenset(k for k in keys if is_setting(k))


def _schema_paths(model: type[BaseModel], prefix: str) -> list[str]:
    paths = []
    for name, field in model.model_fields.items():
        if name == "composed":
            continue
        path = f"{prefix}{field.alias or name}"
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            paths += _schema_paths(annotation, f"{path}.")
        else:
            paths.append(path)
    return paths
