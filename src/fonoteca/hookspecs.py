"""Where an archive operator extends Fonoteca: the plugin hooks (pluggy), in one module.

Fonoteca's own stages are plugins of these hooks too (`fonoteca.plugins.DEFAULT_PLUGINS`); a third-party package
adds its own by naming a module in the `fonoteca` entry-point group of its packaging metadata:

    [project.entry-points.fonoteca]
    my_plugin = "my_package.plugin"

and implementing any of the hooks below with `@fonoteca.hookspecs.hookimpl`. `docs/extending.md` describes each
hook with a worked example (a test checks that every hook here is described there).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from fonoteca.archive import Archive
    from fonoteca.catalog.importers import Importer
    from fonoteca.plan.policies import Policy
    from fonoteca.progress import Progress
    from fonoteca.storage import Storage

hookspec = pluggy.HookspecMarker("fonoteca")
hookimpl = pluggy.HookimplMarker("fonoteca")


@hookspec
def register_commands(app: Any) -> None:
    """Add sub-commands to the `fonoteca` command line (`app` is its typer.Typer): module-level functions named
    `<name>_command` (groups: module-level `<group>_app`), which this hook only registers (docs/extending.md).
    Import heavy dependencies inside the commands, not at module level: every start of the command line loads
    every plugin."""


@hookspec
def register_routes(app: Any) -> None:
    """Add pages and API routes to the website (`app` is the FastAPI application; `app.state.site` holds the
    archive, its read-only catalog connections and the releases)."""


@hookspec
def register_importers() -> list[Importer]:
    """Metadata formats `fonoteca import NAME` reads, each with the id namespace of what it imports (the site's
    list of sources and the namespaces ids are parsed in come from here)."""
    raise NotImplementedError  # a specification: pluggy calls the plugins' implementations, never this


@hookspec
def register_policies() -> list[Policy]:
    """Tier policies `fonoteca plan --policy NAME` can run (see fonoteca.plan.policies.Policy)."""
    raise NotImplementedError  # a specification: pluggy calls the plugins' implementations, never this


@hookspec(firstresult=True)
def archive_storage(archive: Archive) -> Storage | None:
    """Where the archive keeps its stored files (see fonoteca.storage.Storage): the first plugin that returns one
    is used; Fonoteca's own answer, the archive's files/ folder, comes last."""


@hookspec
def after_import(archive: Archive, summary: Any) -> None:
    """Called after every metadata import into the catalog (the search stage brings its index up to date here)."""


@hookspec(firstresult=True)
def write_stats(
    archive: Archive, out: Path, counts: dict[str, Any], progress: Progress | None
) -> dict[str, Any] | None:
    """Write the archivist's charts for `fonoteca stats --out DIR` and return their index (the plan stage's)."""
