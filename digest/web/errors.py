"""Security headers on every response, and every refusal or failure as a page: a status, a
title and one plain sentence (details such as a database path go to the operator's log). The
JSON API and the webhooks answer the same as JSON: {"error": "..."}."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, request

from digest.errors import DigestError, StoreBusy, StoreFull, StoreMissing
from digest.web.site import log, page

RETRY_AFTER_SECONDS = 30
RETRY_FULL_SECONDS = 600  # a full disk takes the operator a while


def _answer(status: int, title: str, text: str) -> Response:
    """The error as a page, or as JSON for /api/ and /webhooks/ (their clients read JSON)."""
    if request.path.startswith(("/api/", "/webhooks/")):
        response = jsonify(error=text)
        response.status_code = status
        return response
    return page("message.html", status, title=title, text=text)


def install(app: Flask) -> None:
    @app.after_request
    def harden(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.errorhandler(400)
    @app.errorhandler(403)
    @app.errorhandler(404)
    @app.errorhandler(405)
    @app.errorhandler(409)
    @app.errorhandler(410)
    @app.errorhandler(413)
    def refused(error: Any) -> Response:
        return _answer(error.code, error.name, error.description)

    @app.errorhandler(401)
    def unauthorised(error: Any) -> Response:
        response = _answer(401, error.name, error.description)
        response.headers["WWW-Authenticate"] = 'Basic realm="digest operator", charset="UTF-8"'
        return response

    @app.errorhandler(StoreBusy)
    def busy(error: StoreBusy) -> Response:
        log.warning("busy: %s", error)
        response = _answer(
            503,
            "Busy",
            "The service is busy for a moment. Nothing was changed: please try again in a minute.",
        )
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    @app.errorhandler(StoreFull)
    def full(error: StoreFull) -> Response:
        log.error("disk full: %s", error)  # the operator must free space
        response = _answer(
            503,
            "Try again later",
            "The service cannot save anything just now. Nothing was changed: please try again"
            " later.",
        )
        response.headers["Retry-After"] = str(RETRY_FULL_SECONDS)
        return response

    @app.errorhandler(StoreMissing)
    def missing(error: StoreMissing) -> Response:
        log.warning("not set up: %s", error)
        return _answer(
            503, "Not ready", "The service has nothing to show yet. Please try again later."
        )

    @app.errorhandler(DigestError)
    def failed(error: DigestError) -> Response:
        # The detail (a database path, a template error) is for the operator's log only.
        log.error("%s: %s", request.path.split("/")[1] or "/", error)
        return crashed(error)

    @app.errorhandler(500)  # a bug: Flask has logged its traceback for the operator
    def crashed(error: Any) -> Response:
        return _answer(
            500,
            "Something went wrong",
            "The service could not answer this request. Please try again later.",
        )
