"""The plugin manager: Fonoteca's own stages (the default plugins) and every installed third-party plugin
(the `fonoteca` entry-point group), loaded once per process. See fonoteca.hookspecs for the hooks."""

from __future__ import annotations

import functools
import importlib
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
    try:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    except Exception as exc:  # a broken third-party plugin is named, not a traceback
        raise FonotecaError(f"a Fonoteca plugin could not be loaded: {type(exc).__name__}: {exc}") from exc
    _check_namespaces(pm)
    return pm


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
