"""The website and JSON API: FastAPI + Jinja2, server-rendered pages with a JSON twin under /api.

For other code (the demo): `from fonoteca.web import serve; serve(archive_or_path, host, port)` blocks and serves;
`create_app(Settings(archive=PATH))` gives the ASGI app; `ServerThread(app)` serves it from a thread.
"""

from fonoteca.lazy import lazy_exports

_EXPORTS = {
    "Settings": "app",
    "create_app": "app",
    "ServerThread": "server",
    "serve": "server",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
