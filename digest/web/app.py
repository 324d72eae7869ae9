"""The web app factory: the blueprints on one Flask app, with what they share."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask

from digest.clock import Clock, utc_now
from digest.editions import (
    BUILTIN_TEMPLATES,
    Carrier,
    Editions,
    Transport,
    prepare_store,
    send_queued,
    signing_keys,
)
from digest.errors import SettingsError
from digest.settings import Settings
from digest.web.access import install_access_log
from digest.web.bodies import install as install_body_limits
from digest.web.errors import install as install_error_pages
from digest.web.mailer import Mailer
from digest.web.onboarding import welcome_pages
from digest.web.operator import operator_pages
from digest.web.preferences import preferences_page
from digest.web.reader import pages
from digest.web.signup import signup_pages
from digest.web.site import Site, _Templates
from digest.web.votes import vote_pages
from digest.web.webhooks import webhook_pages


def create_app(
    settings: Settings,
    clock: Clock = utc_now,
    transports: Callable[[], list[Transport]] | None = None,
    fetch: Callable[[str], bytes] | None = None,
) -> Flask:
    """The web app for these settings. Needs DIGEST_SECRET_KEY (it checks link tokens).
    `transports`: what the mail worker sends through (default: the [smtp] relay). The
    worker (`mailer(app)`) is started and stopped with the server (WebServer)."""
    if settings.secret_key is None:
        raise SettingsError(
            "digest serve checks signed links: set DIGEST_SECRET_KEY (16+ characters) in the"
            " environment, the same key `digest send` uses"
        )
    secret = settings.secret_key.get_secret_value()
    signing_keys(secret)  # a clear error now for a key that is too short
    admin = settings.admin_token.get_secret_value() if settings.admin_token else ""
    if admin and len(admin.strip()) < 16:
        raise SettingsError(
            "DIGEST_ADMIN_TOKEN is shorter than 16 characters once its spaces are trimmed; set"
            " a long random one"
        )
    # The store is made (or upgraded) once, here: the pages' GETs open it read-only and never
    # create anything. An unusable database is a clear error now rather than on each page.
    prepare_store(settings)
    app = Flask(
        __name__,
        template_folder=str(BUILTIN_TEMPLATES / "web"),
        static_folder=str(BUILTIN_TEMPLATES / "web" / "static"),
    )
    # Each route's own body limit (a form: 64 KiB; webhooks, library uploads: more); 413 above.
    install_body_limits(app)
    if transports is None:
        editions = Editions(settings)

        def transports() -> list[Transport]:
            return editions.transports(Carrier.SMTP)

    chosen = transports

    def work(stopped: Callable[[], bool]) -> float | None:
        due = send_queued(settings, chosen, clock, stopped)
        return None if due is None else (due - clock()).total_seconds()

    app.extensions["digest"] = Site(
        settings, clock, secret, admin, _Templates(settings), Mailer(work)
    )
    if fetch is not None:
        app.extensions["digest"].fetch = fetch
    install_error_pages(app)
    install_access_log(app)
    for blueprint in (
        signup_pages,
        pages,
        vote_pages,
        preferences_page,
        welcome_pages,
        operator_pages,
        webhook_pages,
    ):
        app.register_blueprint(blueprint)
    return app


def mailer(app: Flask) -> Mailer:
    """The app's mail worker (sign-up confirmations, first editions): `start()` it with the
    server, `stop()` it after; `wait_idle()` waits for what was queued to be sent."""
    found: Mailer = app.extensions["digest"].mailer
    return found
