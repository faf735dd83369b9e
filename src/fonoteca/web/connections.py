"""Connection limits uvicorn does not have: a deadline for receiving each request, and a bound on the connections
one client address holds open.

uvicorn closes a keep-alive connection that stays idle after a response (`timeout_keep_alive`), but its timer
is cancelled by the first byte that arrives, and nothing watches a connection that never completes a request: a
client that sends half a request line, or trickles one header byte a second, or connects and says nothing,
keeps its socket for ever (the classic slowloris). ASGI middleware cannot help, since it runs only once the
request has been parsed. So the HTTP protocol class itself is extended:

- a timer is armed when a connection opens and whenever a new request starts arriving, and cancelled when that
  request has been received completely; when it fires, the connection is closed. The site only answers GET and
  HEAD, so a whole request is a few hundred bytes: `request_timeout` seconds is plenty for any real client;
- a connection beyond `max_per_client` open ones from the same address (an IPv6 client's /64) is closed at once.

The cost is one timer armed and cancelled per request (a few microseconds on the event loop) and one dictionary
update per connection. The protocol reads its limits from the uvicorn Config (`GuardedConfig`), which uvicorn
hands to every worker process.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import uvicorn

from fonoteca.web.security import client_key

REQUEST_TIMEOUT_S = 10.0
MAX_CONNECTIONS_PER_CLIENT = 64
log = logging.getLogger("fonoteca.web")

if TYPE_CHECKING:  # checked against the parser uvicorn[standard] brings
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _Base

    _PARSER = "httptools"
else:
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _Base

        _PARSER = "httptools"
    except ImportError:  # pragma: no cover (httptools ships with uvicorn[standard])
        from uvicorn.protocols.http.h11_impl import H11Protocol as _Base

        _PARSER = "h11"


class GuardedConfig(uvicorn.Config):
    """uvicorn's Config plus the two limits (it is pickled into each worker process, limits included)."""

    def __init__(
        self,
        app: Any,
        *,
        request_timeout: float = REQUEST_TIMEOUT_S,
        max_per_client: int = MAX_CONNECTIONS_PER_CLIENT,
        **options: Any,
    ) -> None:
        super().__init__(app, http=GuardedProtocol, **options)
        self.request_timeout = request_timeout
        self.max_per_client = max_per_client


# Open connections per (local address, client key), for this process: servers on different ports count apart.
_OPEN: dict[tuple[Any, str], int] = {}


class GuardedProtocol(_Base):
    """uvicorn's HTTP/1.1 protocol with a request deadline and a per-client connection bound."""

    def __init__(self, config: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self._request_timeout: float = getattr(config, "request_timeout", REQUEST_TIMEOUT_S)
        self._max_per_client: int = getattr(config, "max_per_client", MAX_CONNECTIONS_PER_CLIENT)
        self._deadline: asyncio.TimerHandle | None = None
        self._counted: tuple[Any, str] | None = None

    # --- connection ---------------------------------------------------------------------------------------------
    # uvicorn declares the base transport; the event loop gives a stream protocol an asyncio.Transport
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self._max_per_client > 0 and self.client:
            key = (self.server, client_key(self.client[0]))
            held = _OPEN.get(key, 0)
            if held >= self._max_per_client:
                log.warning("closing a connection from %s: it already holds %d", key[1], held)
                transport.close()
                return
            _OPEN[key] = held + 1
            self._counted = key
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._counted is not None:
            left = _OPEN.get(self._counted, 1) - 1
            if left > 0:
                _OPEN[self._counted] = left
            else:
                _OPEN.pop(self._counted, None)
            self._counted = None
        super().connection_lost(exc)

    # --- the request deadline -------------------------------------------------------------------------------------
    def _arm(self) -> None:
        if self._deadline is None and self._request_timeout > 0:
            self._deadline = self.loop.call_later(self._request_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    if _PARSER == "httptools":

        def data_received(self, data: bytes) -> None:
            # bytes between requests (even bare line ends) cancel uvicorn's keep-alive timer: start the deadline
            if self._deadline is None and (self.cycle is None or self.cycle.response_complete):
                self._arm()
            super().data_received(data)

        def on_message_begin(self) -> None:  # a pipelined request behind one still being answered
            super().on_message_begin()
            self._arm()

        def on_message_complete(self) -> None:
            self._disarm()
            super().on_message_complete()
    else:  # pragma: no cover (h11: the state machine says when a request has been received)
        conn: Any  # h11's connection, set by H11Protocol

        def data_received(self, data: bytes) -> None:
            import h11

            if self.conn.their_state in (h11.IDLE, h11.SEND_BODY):
                self._arm()
            super().data_received(data)
            if self.conn.their_state not in (h11.IDLE, h11.SEND_BODY):
                self._disarm()


def open_connections() -> dict[tuple[Any, str], int]:
    """A copy of the per-client connection counts of this process (tests, diagnostics)."""
    return dict(_OPEN)
