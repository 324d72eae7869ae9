"""Replayable history: the moment a dump's papers were first seen, when it is not now.

`digest ingest --as-of DATE` stores a dump as if it had been ingested at the start of DATE in
the settings' time zone; `--as-of filename` takes each dump's date from its file name
(`2025-07-25.jsonl`, `2025-07-25-listing.txt`). `digest send --date DATE` then replays that
day's edition without faking the clock. (An edition counts as new only the papers first seen
since the start of the day before it, a weekly reader's of the week before: render.view.is_new.)"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Sequence
from pathlib import PurePath

from digest.clock import iso_day
from digest.errors import DumpError
from digest.models import Snapshot

# `--as-of filename`: every dump's date is the one its file name starts with.
FROM_NAME = "filename"

_DATED = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})(?![0-9])")


def name_date(source: str) -> dt.date | None:
    """The date a dump's file name starts with (`2025-07-25.jsonl`, `2025-07-25-listing.txt`),
    or None."""
    found = _DATED.match(PurePath(source).name)
    return None if found is None else iso_day(found.group(1))


def day_start(day: dt.date, timezone: str) -> dt.datetime:
    """The first moment of `day` in `timezone`, in UTC."""
    start = dt.datetime.combine(day, dt.time(), zoneinfo.ZoneInfo(timezone))
    return start.astimezone(dt.UTC)


def ingest_moments(
    snapshots: Sequence[Snapshot], as_of: dt.date | str, timezone: str, now: dt.datetime
) -> list[dt.datetime]:
    """When each snapshot counts as ingested: the start of `as_of` (a date, or FROM_NAME for
    the date in each dump's name) in `timezone`. DumpError for a dump without a dated name
    or a day that has not begun."""
    moments = []
    for snapshot in snapshots:
        day = name_date(snapshot.source) if as_of == FROM_NAME else as_of
        if not isinstance(day, dt.date):
            raise DumpError(
                f"{snapshot.source}: --as-of {FROM_NAME} needs a dump whose file name starts"
                " with its date (2025-07-25.jsonl); rename it or give --as-of YYYY-MM-DD"
            )
        moment = day_start(day, timezone)
        if moment > now:
            raise DumpError(
                f"--as-of {day.isoformat()} ({snapshot.source}) is a day that has not begun in"
                f" {timezone}; give today's date or an earlier one"
            )
        moments.append(moment)
    return moments
