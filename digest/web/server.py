"""`digest serve`: the app on waitress, with limits that keep slow clients from starving it."""

from __future__ import annotations

import threading
from collections.abc import Callable

from flask import Flask

from digest.editions import is_loopback
from digest.errors import SettingsError
from digest.settings import Settings
from digest.web.app import create_app, mailer


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
                max_request_body_size=1024 * 1024,
                ident="digest",
            )
        except OSError as exc:
            raise SettingsError(
                f"cannot listen on {host}:{port} ({exc.strerror}); pick another --port"
            ) from None
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
    """Serve the app with waitress until interrupted."""
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
