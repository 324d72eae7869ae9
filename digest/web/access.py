"""The access log of `digest serve`: one line per request, on the `digest.access` logger,
with no token in it. A reader's link names its route's pattern (`/preferences/<token>`), a
path that matched no route has its long segments blanked, and no query string is written."""

from __future__ import annotations

import logging
import sys
import time

from flask import Flask, Response, g, request

log = logging.getLogger("digest.access")

# A path segment this long (or holding an @) may be a token or an address: not written.
_LONGEST = 24


def logged_path() -> str:
    """The request's path as the log shows it: the route's pattern when one matched, else the
    path with every segment that might carry a token or an address replaced by `…`."""
    if request.url_rule is not None:
        return request.url_rule.rule
    parts = request.path.split("/")
    return "/".join(
        "…" if len(part) > _LONGEST or "@" in part or "%40" in part.lower() else part
        for part in parts
    )


def install_access_log(app: Flask) -> None:
    """Log every answered request: client, method, route, status, bytes, milliseconds."""

    @app.before_request
    def _started() -> None:
        g.access_started = time.monotonic()

    @app.after_request
    def _answered(response: Response) -> Response:
        started = g.get("access_started")
        took = "-" if started is None else f"{(time.monotonic() - started) * 1000:.0f}ms"
        log.info(
            '%s "%s %s" %s %s %s',
            request.remote_addr or "-",
            request.method,
            logged_path(),
            response.status_code,
            response.calculate_content_length() or "-",
            took,
        )
        return response


def log_to_stderr() -> None:
    """`digest serve` writes its access log to stderr (once, however often it is called)."""
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
