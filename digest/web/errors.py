"""Security headers on every response, and every refusal or failure as a page: a status, a
title and one plain sentence (details such as a database path go to the operator's log)."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, request

from digest.errors import DigestError, StoreBusy, StoreMissing
from digest.web.site import log, page

RETRY_AFTER_SECONDS = 30


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
        return page("message.html", error.code, title=error.name, text=error.description)

    @app.errorhandler(401)
    def unauthorised(error: Any) -> Response:
        response = page("message.html", 401, title=error.name, text=error.description)
        response.headers["WWW-Authenticate"] = 'Basic realm="digest operator", charset="UTF-8"'
        return response

    @app.errorhandler(StoreBusy)
    def busy(error: StoreBusy) -> Response:
        log.warning("busy: %s", error)
        response = page(
            "message.html",
            503,
            title="Busy",
            text="The service is busy for a moment. Nothing was changed: please try again in a"
            " minute.",
        )
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    @app.errorhandler(StoreMissing)
    def missing(error: StoreMissing) -> Response:
        log.warning("not set up: %s", error)
        return page(
            "message.html",
            503,
            title="Not ready",
            text="The service has nothing to show yet. Please try again later.",
        )

    @app.errorhandler(DigestError)
    def failed(error: DigestError) -> Response:
        # The detail (a database path, a template error) is for the operator's log only.
        log.error("%s: %s", request.path.split("/")[1] or "/", error)
        return page(
            "message.html",
            500,
            title="Something went wrong",
            text="The service could not answer this request. Please try again later.",
        )
