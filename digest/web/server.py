"""`digest serve`: the app on waitress, with limits that keep slow clients from starving it."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable
from typing import Any

from flask import Flask
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import BaseWSGIServer
from waitress.utilities import RequestEntityTooLarge

from digest.editions import is_loopback
from digest.errors import SettingsError
from digest.settings import Settings
from digest.web.access import log_to_stderr
from digest.web.app import create_app, mailer
from digest.web.bodies import largest, route_limits


class _TooLarge(RequestEntityTooLarge):  # type: ignore[misc]
    """waitress's 413 as one line (JSON for the API and the webhooks, as their other errors)."""

    def __init__(self, path: str, limit: int) -> None:
        super().__init__(f"The body is larger than the {limit:,} bytes {path[:100]} takes.")
        self.json = path.startswith(("/api/", "/webhooks/"))

    def to_response(self, ident: str | None = None) -> tuple[str, list[tuple[str, str]], bytes]:
        if not self.json:
            return f"{self.code} {self.reason}", _TEXT, f"{self.body}\n".encode()
        body = json.dumps({"error": self.body}).encode()
        return f"{self.code} {self.reason}", [("Content-Type", "application/json")], body


_TEXT = [("Content-Type", "text/plain; charset=utf-8")]


def _route_limited(limit_for: Callable[[str, str], int]) -> type[Any]:
    """waitress's channel with each request's body limit taken from its route, as soon as
    its headers are read: a body over it is refused before it is received (waitress would
    otherwise spool any body up to its one server-wide limit)."""

    class Parser(HTTPRequestParser):  # type: ignore[misc]
        adj: Any
        error: Any
        limit: int | None = None

        def parse_header(self, header_plus: bytes) -> None:
            super().parse_header(header_plus)
            self.limit = limit = limit_for(self.command, self.path)
            self.adj = copy.copy(self.adj)  # this request's own adjustments
            self.adj.max_request_body_size = limit + 1  # waitress refuses at >=

        def received(self, data: bytes) -> int:
            consumed: int = super().received(data)
            if isinstance(self.error, RequestEntityTooLarge) and self.limit is not None:
                self.error = _TooLarge(self.path, self.limit)
            return consumed

    class Channel(HTTPChannel):  # type: ignore[misc]
        parser_class = Parser

    return Channel


class WebServer:
    """waitress serving the app, with deliberate limits: at most [web] connection_limit open
    connections, and any connection idle for [web] channel_timeout seconds (a slow or half-open
    client) closed, so a few slow clients cannot stop it accepting. `run()` serves in this
    thread until `stop()` (from any thread) or Ctrl-C; the loop closes its own sockets, and
    `stop()` wakes it only under the lock that closing takes, so the two never race. The
    app's mail worker runs as long as the server does."""

    def __init__(self, settings: Settings, host: str, port: int, app: Flask | None = None) -> None:
        from waitress import create_server

        web = settings.web
        self.app = app or create_app(settings)
        try:
            self._server = create_server(
                self.app,
                host=host,
                port=port,
                threads=web.threads,
                connection_limit=web.connection_limit,
                channel_timeout=web.channel_timeout,
                cleanup_interval=max(1, int(web.channel_timeout / 3)),
                asyncore_use_poll=True,  # select() stops at 1,024 descriptors
                max_request_header_size=64 * 1024,
                max_request_body_size=largest(self.app),
                ident="digest",
            )
        except OSError as exc:
            raise SettingsError(
                f"cannot listen on {host}:{port} ({exc.strerror}); pick another --port"
            ) from None
        channel = _route_limited(route_limits(self.app))
        for dispatcher in list(self._server._map.values()):  # one per address listened on
            if isinstance(dispatcher, BaseWSGIServer):
                dispatcher.channel_class = channel
        self.url = f"http://{host}:{self._server.effective_port}"
        self._stop = threading.Event()
        self._closing = threading.Lock()  # the trigger is pulled only while still open
        self._closed = False
        self._thread: threading.Thread | None = None

    def run(self) -> None:
        server = self._server
        worker = mailer(self.app).start()  # sends what requests queue, after their answers
        try:
            while not self._stop.is_set():
                server.asyncore.loop(
                    timeout=server.adj.asyncore_loop_timeout,
                    map=server._map,
                    use_poll=True,
                    count=1,
                )
        except KeyboardInterrupt:
            pass
        finally:
            with self._closing:
                self._closed = True
                server.close()
                server.asyncore.close_all(server._map)
            worker.stop()  # the message in flight finishes; the rest stays queued

    def start(self) -> WebServer:
        """Serve in a background thread (the socket already listens)."""
        self._thread = threading.Thread(target=self.run, name="digest-web", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._closing:  # the loop may have seen the flag and closed already
            if not self._closed:
                self._server.pull_trigger()  # wake the loop so it sees the flag
        if self._thread is not None:
            self._thread.join()


def serve(settings: Settings, host: str, port: int, *, announce: Callable[[str], None]) -> None:
    """Serve the app with waitress until interrupted; the access log goes to stderr."""
    log_to_stderr()
    server = WebServer(settings, host, port)
    announce(f"digest serve: {server.url}/ (Ctrl-C stops)")
    if settings.web.preview and settings.admin_token is None:
        announce("the preview pages are off: set DIGEST_ADMIN_TOKEN to open them")
    if not is_loopback(host):
        announce(
            f"warning: {host} is reachable from other machines; serve on 127.0.0.1 behind a TLS"
            " reverse proxy (see the README)"
        )
    server.run()
