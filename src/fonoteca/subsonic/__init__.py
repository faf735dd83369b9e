"""The Subsonic / OpenSubsonic API (1.16.1 with the OpenSubsonic extensions) under /rest/ of `fonoteca serve`,
so that the players people already use (Symfonium, Feishin, Supersonic, DSub, substreamer, Sonixd, ...) can
browse, search and play this archive or mirror; per-user state in users.sqlite3 beside the catalog.

    from fonoteca.subsonic import install
    install(app)          # the site's FastAPI app: the /rest/ router, and POST forms read like GET

Modules: api (the router), browse / playback / personal (the endpoints), auth and users (accounts, keys,
passwords), library (what is listed), items (the Subsonic objects), media (transcoding, lyrics), covers,
fetcher (streaming released files this mirror does not hold yet), formpost, config ([subsonic] settings).
"""

from __future__ import annotations

from typing import Any


def install(app: Any) -> None:
    """Mount the API on the site's app (call it after the site's own middleware is added: the POST-form reader
    must run first, so that the site's read-only checks and rate limits see an ordinary GET)."""
    from fonoteca.subsonic.config import subsonic_config

    if not subsonic_config(app.state.site.archive.config).enabled:
        return
    from fonoteca.subsonic.api import router
    from fonoteca.subsonic.formpost import FormPost

    app.include_router(router)
    app.add_middleware(FormPost)
