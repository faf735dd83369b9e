"""The website and JSON API: FastAPI + Jinja2, server-rendered pages with a JSON twin under /api.

For other code (the demo): `from fonoteca.web import serve; serve(archive_or_path, host, port)` blocks and serves;
`create_app(Settings(archive=PATH))` gives the ASGI app; `ServerThread(app)` serves it from a thread.
"""

from fonoteca.web.app import Settings, create_app
from fonoteca.web.server import ServerThread, serve

__all__ = ["ServerThread", "Settings", "create_app", "serve"]
