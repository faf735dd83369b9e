"""Every command of the command line is written one way (issue 17): a module-level function named after its command
path (`ingest_command`, `import_table_command`, `torrents_scrape_command`), registered by its stage's
`register_commands`; every group a module-level sub-app named `<group>_app`."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import Any

import typer

from fonoteca import plugins
from fonoteca.catalog import cli as catalog_cli
from fonoteca.commands import make_app


def _command_name(info: Any) -> str:
    return info.name or typer.main.get_command_name(info.callback.__name__)


def _group_name(group: Any) -> str:
    return group.name or group.typer_instance.info.name


def _registered(app: typer.Typer) -> Iterator[tuple[tuple[str, ...], Callable[..., Any]]]:
    """(command path, callback) of every command of the app and of its groups."""
    for info in app.registered_commands:
        yield (_command_name(info),), info.callback
    for group in app.registered_groups:
        for info in group.typer_instance.registered_commands:
            yield (_group_name(group), _command_name(info)), info.callback


def _expected(path: tuple[str, ...]) -> str:
    # one function serves every JSON-shaped importer, Fonoteca's and plugins' alike (`fonoteca import NAME`)
    if path[0] == "import" and len(path) == 2 and plugins.importers()[path[1]].codec is not None:
        return "import_json_command"
    return "_".join(path).replace("-", "_") + "_command"


def _written_the_one_way(path: tuple[str, ...], callback: Callable[..., Any]) -> bool:
    """Named for its path and defined at the top of its module, under that name: a qualified name equal to the
    plain name has no `<locals>` (not defined inside register_commands or a factory)."""
    module = sys.modules[callback.__module__]
    return callback.__qualname__ == _expected(path) and getattr(module, callback.__name__, None) is callback


def test_every_command_is_a_module_level_function_named_after_its_path():
    found = list(_registered(make_app()))
    assert len(found) > 40  # the walk reached the groups' commands (some fifty in all)
    wrong = [
        f"{' '.join(path)}: {callback.__module__}.{callback.__qualname__}, expected {_expected(path)}"
        for path, callback in found
        if not _written_the_one_way(path, callback)
    ]
    assert not wrong, "\n".join(wrong)


def test_every_group_is_a_module_level_app_named_after_it():
    wrong = []
    for group in make_app().registered_groups:
        name = _group_name(group)
        modules = {sys.modules[info.callback.__module__] for info in group.typer_instance.registered_commands}
        if not modules or any(getattr(m, f"{name}_app", None) is not group.typer_instance for m in modules):
            wrong.append(f"{name}: expected {name}_app in {sorted(m.__name__ for m in modules)}")
    assert not wrong, "\n".join(wrong)


def test_the_json_importers_share_one_command():
    found = dict(_registered(make_app()))
    assert found[("import", "spotify")] is found[("import", "musicbrainz")] is catalog_cli.import_json_command
