"""Time, passed in: every stage that needs the time takes a `Clock`; `utc_now` is the real one."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def iso_day(text: str) -> dt.date | None:
    """The day written exactly as YYYY-MM-DD, or None (Python's own parser also takes week
    dates such as 2025-W30-1 and 20250725, which no reader or dump name means)."""
    if not _ISO_DAY.fullmatch(text):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:  # 2025-02-30
        return None
