"""The plugin interface, as an operator uses it: the example plugin under examples/ is installed (pip, into a
folder of its own) and found through its `fonoteca` entry point; its importer, tier policy and page then work
through the real command line and the real site, and nothing in Fonoteca was edited. Every hook is documented."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from fonoteca import archive as archive_mod
from fonoteca import hookspecs
from tests.conftest import REPO, run_cli

EXAMPLE = REPO / "examples" / "fonoteca-example-plugin"

CATALOGUE = {
    "label": "Example Records",
    "releases": [
        {
            "id": "R1",
            "title": "First Light",
            "date": "2001-02-03",
            "artist": {"id": "A1", "name": "The Examples", "genres": ["jazz"]},
            "tracks": [
                {"id": f"T{n}", "title": f"Jazz piece {n}", "isrc": f"GBAAA01{n:05d}", "seconds": 200 + n}
                for n in range(1, 6)
            ],
        },
        {
            "id": "R2",
            "title": "Loud",
            "date": "2002",
            "artist": {"id": "A2", "name": "Noise Unit", "genres": ["noise"]},
            "tracks": [{"id": f"N{n}", "title": f"Noise piece {n}", "seconds": 100 + n} for n in range(1, 4)]
            + [{"id": "N9", "title": "Bad code", "isrc": "NOT-AN-ISRC"}],
        },
        {"id": "R3", "title": "No artist here", "tracks": []},
    ],
}


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The example plugin installed with pip into its own folder, put on the path of the child processes."""
    target = tmp_path_factory.mktemp("site")
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(EXAMPLE),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr
    assert list(target.glob("fonoteca_example_plugin-*.dist-info/entry_points.txt"))
    return {"PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")])}


@pytest.fixture(scope="module")
def labelx(plugin_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = archive_mod.init(tmp_path_factory.mktemp("plugin") / "archive").root
    source = root.parent / "catalogue.json"
    source.write_text(json.dumps(CATALOGUE))
    result = run_cli("import", "label-catalogue", source, "--json", archive=root, env=plugin_env)
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["units"] == 2 and summary["rejected"] == 2  # R3 rejected (no artist); N9 imported without its ISRC
    return root


def test_entry_points_are_found_as_importlib_metadata_finds_them(plugin_env: dict[str, str]) -> None:
    """Fonoteca reads the entry points itself (importing importlib.metadata costs every start ~25 ms): with the
    example plugin installed, it finds what importlib.metadata finds, for its own group and for others."""
    code = (
        "import json, importlib.metadata as m\n"
        "from fonoteca import plugins\n"
        "out = {}\n"
        "for group in ('fonoteca', 'console_scripts', 'pytest11'):\n"
        "    ours = sorted(plugins.entry_points(group))\n"
        "    theirs = sorted((e.name, e.value.split('[', 1)[0].strip()) for e in m.entry_points(group=group))\n"
        "    out[group] = [ours, theirs]\n"
        "print(json.dumps(out))"
    )
    env = dict(os.environ, **plugin_env)
    found = json.loads(
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    )
    for group, (ours, theirs) in found.items():
        assert ours == theirs, group
    assert found["fonoteca"][0] == [["example", "fonoteca_example.plugin"]]  # the example plugin, as it declares


def test_without_the_plugin_its_command_does_not_exist(tmp_path):
    assert run_cli("import", "label-catalogue", tmp_path).exit_code == 2
    assert run_cli("label-tracks", archive=tmp_path).exit_code == 2


def test_the_importer_runs_through_the_real_cli(labelx, plugin_env):
    listed = run_cli("import", "--help", env=plugin_env)
    assert "label-catalogue" in listed.stdout
    shown = run_cli("show", "labelx:track:T3", "--json", archive=labelx, env=plugin_env)
    assert shown.exit_code == 0, shown.stderr
    track = json.loads(shown.stdout)[0]
    assert track["name"] == "Jazz piece 3" and track["source"] == "labelx"
    found = run_cli("search", "noise", "piece", "--json", archive=labelx, env=plugin_env)
    assert {r["id"] for r in json.loads(found.stdout)["results"]} >= {"N1", "N2", "N3"}


def test_the_command_runs_through_the_real_cli(labelx, plugin_env):
    assert "label-tracks" in run_cli("--help", env=plugin_env).stdout
    listed = run_cli("label-tracks", "--json", archive=labelx, env=plugin_env)
    assert listed.exit_code == 0, listed.stderr
    assert [t["id"] for t in json.loads(listed.stdout)] == ["N1", "N2", "N3", "N9", "T1", "T2", "T3", "T4", "T5"]
    rows = run_cli("label-tracks", archive=labelx, env=plugin_env).stdout.splitlines()  # piped: tab-separated
    assert rows[0] == "id\ttitle" and rows[1] == "N1\tNoise piece 1"


def test_the_policy_is_dispatched_by_name(labelx, plugin_env):
    with open(labelx / "fonoteca.toml", "a", encoding="utf-8") as f:
        f.write("\n[example]\nper_genre = 2\n")
    planned = run_cli("plan", "--policy", "genre-quota", "--json", archive=labelx, env=plugin_env)
    assert planned.exit_code == 0, planned.stderr
    summary = json.loads(planned.stdout)
    assert summary["policy"] == "genre-quota"
    assert summary["tiers"]["original"]["files"] == 4  # two of jazz, two of noise
    assert run_cli("plan", "--policy", "genre-quota", archive=labelx).exit_code == 2  # not installed: usage error


def test_the_page_is_served_by_the_real_site(labelx, plugin_env):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, **plugin_env)
    server = subprocess.Popen(
        [sys.executable, "-m", "fonoteca", "-A", str(labelx), "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/example/labelx", timeout=5)
                break
            except httpx.HTTPError:
                assert server.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
        assert page.status_code == 200 and "Jazz piece 1" in page.text
        twin = httpx.get(f"http://127.0.0.1:{port}/api/example/labelx").json()
        assert {t["id"] for t in twin["tracks"]} == {"T1", "T2", "T3", "T4", "T5", "N1", "N2", "N3", "N9"}
        track = httpx.get(f"http://127.0.0.1:{port}/api/track/T1", params={"source": "labelx"})
        assert track.status_code == 200 and track.json()["name"] == "Jazz piece 1"
    finally:
        server.terminate()
        server.wait(20)


def test_every_hook_is_documented():
    """As Datasette's test_docs does: a hook that docs/extending.md does not describe fails the suite."""
    text = (REPO / "docs" / "extending.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^### `(\w+)", text, re.M))
    hooks = {name for name in dir(hookspecs) if hasattr(getattr(hookspecs, name), "fonoteca_spec")}
    assert hooks and hooks <= documented, sorted(hooks - documented)


def test_a_broken_plugin_is_named_not_a_traceback(tmp_path: Path) -> None:
    info = tmp_path / "site" / "broken_plugin-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[fonoteca]\nbroken = no_such_module_of_fonoteca:plugin\n")
    result = run_cli("--help", env={"PYTHONPATH": str(tmp_path / "site")})
    assert result.exit_code == 1
    assert "the Fonoteca plugin 'broken' (no_such_module_of_fonoteca:plugin) could not be loaded" in result.stderr
    assert "Traceback" not in result.stderr
