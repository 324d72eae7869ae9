"""Request bodies: each route takes bodies up to its own limit (the pages' forms and JSON a
small one; the provider webhooks and the welcome page's library upload more), so no route
takes more than it needs. Flask applies the limit to every request; `digest serve` also has
waitress apply it from the headers, before a byte of the body is read. A body over the limit
is 413 with one clear line. JSON bodies are parsed within bounds (digest.safe_json)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, request
from werkzeug.exceptions import HTTPException

from digest.editions import UPLOAD_BYTES
from digest.errors import UnsafeJSON
from digest.safe_json import loads

SMALL_BODY = 64 * 1024  # a preferences form or a sign-up is a few hundred bytes
WEBHOOK_BODY = 1024 * 1024  # SendGrid batches up to ~1,000 events; far above that is not theirs
LIBRARY_BODY = UPLOAD_BYTES  # the welcome page's library exports

View = TypeVar("View", bound=Callable[..., Any])
_LIMITS: dict[Callable[..., Any], int] = {}


def takes_body(limit: int) -> Callable[[View], View]:
    """Mark a view as taking request bodies of up to `limit` bytes (the others: SMALL_BODY)."""

    def mark(view: View) -> View:
        _LIMITS[view] = limit
        return view

    return mark


def body_limit(app: Flask, endpoint: str | None) -> int:
    """The largest body the view at `endpoint` takes."""
    view = app.view_functions.get(endpoint or "")
    return SMALL_BODY if view is None else _LIMITS.get(view, SMALL_BODY)


def route_limits(app: Flask) -> Callable[[str, str], int]:
    """(method, path) → the largest body that request may carry, by the app's own routing:
    for a server that reads the headers before the body (an unknown route: SMALL_BODY)."""
    adapter = app.url_map.bind("localhost")

    def limit(method: str, path: str) -> int:
        try:
            endpoint, _ = adapter.match(path, method)
        except HTTPException:  # not found, another method, a redirect
            return SMALL_BODY
        return body_limit(app, str(endpoint))

    return limit


def largest(app: Flask) -> int:
    """The largest body any route of the app takes."""
    return max([SMALL_BODY, *(_LIMITS.get(v, SMALL_BODY) for v in app.view_functions.values())])


def install(app: Flask) -> None:
    """Give every request its route's limit before anything reads the body."""
    app.config["MAX_CONTENT_LENGTH"] = SMALL_BODY

    @app.before_request
    def limit_body() -> None:
        request.max_content_length = body_limit(app, request.endpoint)


def json_body(max_chars: int) -> tuple[Any, str]:
    """The request's JSON body, parsed within bounds (size, depth, digits): (value, "") or
    (None, why it was refused, in one line)."""
    try:
        return loads(request.get_data(cache=True), max_chars=max_chars), ""
    except UnsafeJSON as exc:
        return None, f"the body is not JSON digest reads: {exc}"
