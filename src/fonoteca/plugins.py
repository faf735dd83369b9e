"""The plugin manager: Fonoteca's own stages (the default plugins) and every installed third-party plugin
(the `fonoteca` entry-point group), loaded once per process. See fonoteca.hookspecs for the hooks."""

from __future__ import annotations

import functools
import importlib
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

from fonoteca import hookspecs
from fonoteca.errors import FonotecaError

if TYPE_CHECKING:
    from fonoteca.archive import Archive
    from fonoteca.catalog.importers import Importer
    from fonoteca.plan.policies import Policy
    from fonoteca.storage import Storage

ENTRY_POINT_GROUP = "fonoteca"

# Fonoteca's own plugins: each stage's command module (its commands, and the stage's other hooks) in pipeline
# order, the built-in importers and the local file storage. They are light to import: every start loads them.
DEFAULT_PLUGINS = (
    "fonoteca.catalog.cli",
    "fonoteca.synth.cli",
    "fonoteca.plan.cli",
    "fonoteca.ingest.cli",
    "fonoteca.pack.cli",
    "fonoteca.search.cli",
    "fonoteca.web.cli",
    "fonoteca.cluster.cli",
    "fonoteca.mirror.cli",
    "fonoteca.features.cli",
    "fonoteca.subsonic.cli",
    "fonoteca.lawful_cli",
    "fonoteca.catalog.importers",
    "fonoteca.storage",
)


@functools.lru_cache(maxsize=1)
def manager() -> pluggy.PluginManager:
    """The process's plugin manager: the default plugins, then every plugin found through the entry points."""
    pm = pluggy.PluginManager("fonoteca")
    pm.add_hookspecs(hookspecs)
    for name in reversed(DEFAULT_PLUGINS):  # pluggy calls the last registered first: this keeps pipeline order
        pm.register(importlib.import_module(name), name=name)
    for name, target in entry_points(ENTRY_POINT_GROUP):
        if pm.get_plugin(name) is not None or pm.is_blocked(name):
            continue
        try:
            pm.register(_load(target), name=name)
        except Exception as exc:  # a broken third-party plugin is named, not a traceback
            raise FonotecaError(
                f"the Fonoteca plugin {name!r} ({target}) could not be loaded: {type(exc).__name__}: {exc}"
            ) from exc
    _check_namespaces(pm)
    return pm


def entry_points(group: str) -> list[tuple[str, str]]:
    """(name, "module:attribute") of every entry point in `group` of the distributions installed on sys.path, the
    first distribution of a name winning, as importlib.metadata finds them. Read here from the distributions'
    entry_points.txt files because importing importlib.metadata costs every start about 25 ms (its email and zip
    modules), a sixth of `fonoteca --help`; tests/test_plugins.py checks both give the same."""
    found: list[tuple[str, str]] = []
    seen: set[str] = set()
    for folder in sys.path:
        for info in _distribution_folders(folder or "."):
            stem = info.name.rsplit(".", 1)[0]  # NAME-VERSION.dist-info, NAME.egg-info or NAME-VERSION.egg-info
            distribution = re.sub(r"[-_.]+", "-", stem.split("-", 1)[0]).lower()  # as PEP 503 compares names
            if distribution in seen:
                continue
            seen.add(distribution)
            found.extend(_group_entries(info / "entry_points.txt", group))
    return found


def _distribution_folders(folder: str) -> list[Path]:
    try:
        names = sorted(os.listdir(folder))
    except OSError:  # not a folder (a zip on sys.path) or gone: nothing installed there
        return []
    return [Path(folder) / n for n in names if n.endswith((".dist-info", ".egg-info"))]


def _group_entries(path: Path, group: str) -> list[tuple[str, str]]:
    """The `name = module:attribute` lines of one section of an entry_points.txt (an INI file)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return []
    entries, section = [], None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
        elif section == group and "=" in line:
            name, _, value = line.partition("=")
            entries.append((name.strip(), value.split("[", 1)[0].strip()))  # extras ("[x]") are not ours to check
    return entries


def _load(target: str) -> Any:
    """The object an entry point names: `module` or `module:attribute.path`."""
    module_name, _, attribute = target.partition(":")
    loaded: Any = importlib.import_module(module_name.strip())
    for part in filter(None, attribute.strip().split(".")):
        loaded = getattr(loaded, part)
    return loaded


def hook() -> Any:
    return manager().hook


def plugin_names() -> list[str]:
    """Third-party plugins loaded (entry-point names), for `fonoteca --version`-like reports."""
    return sorted(name for name, _ in manager().list_name_plugin() if name not in DEFAULT_PLUGINS)


def importers() -> dict[str, Importer]:
    """Every metadata importer by format name."""
    out: dict[str, Importer] = {}
    for batch in hook().register_importers():
        for importer in batch:
            if importer.name in out:
                raise FonotecaError(f"two plugins define the importer {importer.name!r}")
            out[importer.name] = importer
    return out


def policies() -> dict[str, Policy]:
    """Every tier policy by name."""
    out: dict[str, Policy] = {}
    for batch in hook().register_policies():
        for policy in batch:
            if policy.name in out:
                raise FonotecaError(f"two plugins define the tier policy {policy.name!r}")
            out[policy.name] = policy
    return out


def storage(archive: Archive) -> Storage:
    found = hook().archive_storage(archive=archive)
    if found is None:
        raise FonotecaError("no plugin provides file storage for the archive")
    return found


def _check_namespaces(pm: pluggy.PluginManager) -> None:
    """Register every importer's id namespace (name and stored number), refusing two that collide."""
    from fonoteca.catalog import ids

    for batch in pm.hook.register_importers():
        for importer in batch:
            ids.register_namespace(importer.namespace, importer.namespace_number)
