"""Fetching dumps over HTTP (httpx): Hugging Face daily papers by date, arXiv feeds, any URL.

The client is passed in (a transport seam): tests hand in one pointed at a local HTTP server.
A response is read in full (up to the dump size limit) before parsing, so a dropped connection
can never half-ingest a dump.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from typing import TYPE_CHECKING

from digest.errors import DumpError
from digest.sources._text import MAX_DUMP_BYTES

if TYPE_CHECKING:
    import httpx

USER_AGENT = "digest (trending papers in your inbox)"


def is_url(text: str) -> bool:
    return urllib.parse.urlsplit(text).scheme in ("http", "https")


def hf_daily_url(api_url: str, date: dt.date) -> str:
    """`https://huggingface.co/api/daily_papers?date=2025-01-10` for the given day."""
    separator = "&" if "?" in api_url else "?"
    return f"{api_url}{separator}{urllib.parse.urlencode({'date': date.isoformat()})}"


def arxiv_feed_url(template: str, category: str) -> str:
    """The feed of one arXiv category: `template` holds `{category}`."""
    if not category.replace(".", "").replace("-", "").isalnum():
        raise DumpError(f"arXiv category {category!r} is not valid; use a name like cs.CL")
    return template.replace("{category}", urllib.parse.quote(category))


def make_client(timeout: float = 30.0) -> httpx.Client:
    import httpx  # imported on first use: most runs read files, and httpx costs ~0.1 s

    return httpx.Client(timeout=timeout, follow_redirects=True, headers={"User-Agent": USER_AGENT})


def fetch(url: str, client: httpx.Client) -> bytes:
    """GET `url` and return its body, or raise DumpError naming the URL and what went wrong."""
    import httpx

    if not is_url(url):
        raise DumpError(f"{url}: not an http(s) URL")
    try:
        with client.stream("GET", url) as response:
            if response.status_code != 200:
                raise DumpError(
                    f"GET {url}: HTTP {response.status_code} {response.reason_phrase};"
                    " check the URL or the date"
                )
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_DUMP_BYTES:
                    raise DumpError(
                        f"GET {url}: the response is over the {MAX_DUMP_BYTES:,}-byte dump limit"
                    )
    except httpx.HTTPError as exc:
        reason = str(exc) or type(exc).__name__
        reason = " ".join(reason.split())
        raise DumpError(f"GET {url}: {reason}; is the server reachable?") from None
    return bytes(body)
