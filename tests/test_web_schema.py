"""schemathesis against the OpenAPI spec of the running server: generated requests for every operation, none
may get a server error, and every answer must match the status codes, content types and (for JSON) the
schemas the spec declares."""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.test_web_fixtures import WebArchive, base_url, web  # noqa: E402,F401

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


EXAMPLES = 50


def test_api_never_fails(base_url: str) -> None:  # noqa: F811
    """Every operation of the spec, EXAMPLES valid and EXAMPLES invalid generated requests each (derandomized:
    the same run every time)."""
    from hypothesis import given

    loaded = schemathesis.openapi.from_url(f"{base_url}/api/openapi.json")
    operations = [result.ok() for result in loaded.get_all_operations()]
    assert len(operations) >= 15
    failures = []
    modes = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
    for operation, mode in [(op, mode) for op in operations for mode in modes]:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case) -> None:
            case.call_and_validate(checks=CHECKS, timeout=30)

        try:
            run()
        except Unsatisfiable:
            continue  # no invalid request exists for an operation without parameters
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 (collect every operation's failure)
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, "\n\n".join(failures)


def test_known_ids_through_the_spec(base_url: str, web: WebArchive) -> None:  # noqa: F811
    """Random ids mostly miss; real ones must satisfy the schemas too."""
    import httpx

    loaded = schemathesis.openapi.from_url(f"{base_url}/api/openapi.json")
    track = httpx.get(f"{base_url}/api/track/{web.archive_track}").json()
    for path, params in [
        ("/api/track/{track_id}", {"track_id": web.archive_track}),
        ("/api/track/{track_id}", {"track_id": web.release_track}),
        ("/api/album/{album_id}", {"album_id": track["album"]["id"]}),
        ("/api/artist/{artist_id}", {"artist_id": track["artists"][0]["id"]}),
        ("/api/isrc/{code}", {"code": track["isrc"]}),
    ]:
        case = loaded[path]["GET"].Case(path_parameters=params)
        response = case.call_and_validate(checks=CHECKS, timeout=30)
        assert response.status_code == 200
    for path, query in [
        ("/api/search", {"q": "love"}),
        ("/api/torrents/generate", {"budget": "2"}),
        ("/api/shuffle", {"count": 5}),
        ("/api/torrents", {}),
        ("/api/stats", {}),
        ("/api/home", {}),
    ]:
        case = loaded[path]["GET"].Case(query=query)
        assert case.call_and_validate(checks=CHECKS, timeout=30).status_code == 200
