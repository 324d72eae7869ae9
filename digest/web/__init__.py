"""`digest serve`: preview, archive, feed, one-click unsubscribe, feedback and preferences.

A thin shell like the CLI: every page calls the editions service and the store, and renders a
Jinja template with autoescaping. Blueprints by audience: `reader` (past editions, the feed,
unsubscribing), `votes` (a card's More/Less like this), `preferences`, and `operator` (the
preview, which needs DIGEST_ADMIN_TOKEN); `site` holds what they share and `errors` turns every
refusal into a page. Reader pages are opened by signed tokens (digest.tokens): no login, no
cookie.
"""

from digest.web.app import create_app, mailer
from digest.web.server import WebServer, serve

__all__ = ["WebServer", "create_app", "mailer", "serve"]
