"""The reader schema: what a person says about a reader (a `[[subscribers]]` entry of the
settings, a CSV row, `digest subscribers add` flags, the preferences form), checked once, by the
checks below, and kept as a SubscriberRow. Every check raises ValueError naming the bad value
and its fix; `validated_row` gathers all of them (ProfileErrors)."""

from __future__ import annotations

import datetime as dt
import functools
import re
import zoneinfo
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from digest.addresses import normalise_address
from digest.clock import iso_day
from digest.errors import ProfileErrors
from digest.models import WEEKDAYS, Delivery, Frequency, Interest, Quiet, Subscriber

if TYPE_CHECKING:
    from digest.library import LibraryRead


@dataclass(frozen=True, slots=True)
class SubscriberRow:
    """A subscriber kept in the store. `profile` holds interests (each {phrase, weight}),
    exclude, authors, liked, min_score and max_items; unset schedule fields are None."""

    email: str
    name: str
    profile: dict[str, Any]
    send_at: str | None = None
    timezone: str | None = None
    weekdays_only: bool | None = None
    # Feedback carried by an import (arXiv ids or stored ids); kept in the feedback table.
    more: tuple[str, ...] = ()
    less: tuple[str, ...] = ()
    # A library carried by an import (the CSV's `library` column, CSL-JSON, read already),
    # kept in the library table.
    library: LibraryRead | None = None
    # The consent log carried by an import (the CSV's `consent` column), appended to the
    # store's: each event a dict of CONSENT_FIELDS.
    consent: tuple[dict[str, str], ...] = ()


_SEND_AT = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?")


def parse_send_at(value: str) -> tuple[int, int, int]:
    """ "07:30" or "07:30:15" → (hour, minute, second); ValueError names the expected form."""
    match = _SEND_AT.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"send time {value!r} is not HH:MM (24-hour clock, e.g. 07:30)")
    hour, minute, second = match.groups()
    return int(hour), int(minute), int(second or 0)


# Files of the zone database that are not IANA zone names: the machine's own zone (whatever
# it is set to), the POSIX rules template, and a placeholder for machines not yet set up.
_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})


@functools.cache
def time_zones() -> frozenset[str]:
    """The IANA zone names digest accepts: the zone database's names (neither its `posix/`
    and `right/` copies, which the database itself leaves out, nor the files above)."""
    return frozenset(zoneinfo.available_timezones() - _NOT_ZONES)


def check_timezone(value: str) -> str:
    if value not in time_zones():
        raise ValueError(
            f"unknown time zone {value[:60]!r} (use an IANA name such as Europe/Berlin)"
        )
    return value


# A reader's lists are read on every send: keep them to what a person would type.
MAX_TERMS = 50
MAX_TERM_CHARS = 200
# An interest may be a sentence in the reader's own words ("memory mechanisms for LLM agents;
# not GPU memory"; digest.rank.words reads it): a short paragraph, not a page.
MAX_INTEREST_CHARS = 1000


def check_terms(
    values: Iterable[str], what: str = "entries", limit: int = MAX_TERM_CHARS
) -> list[str]:
    terms = [" ".join(v.split()) for v in values if v.strip()]
    if len(terms) > MAX_TERMS:
        raise ValueError(f"{len(terms)} {what} is too many; keep at most {MAX_TERMS}")
    for term in terms:
        if len(term) > limit:
            raise ValueError(
                f"{what[:-1] if what.endswith('s') else what} {term[:40]!r}… is longer than"
                f" {limit} characters"
            )
    return terms


def check_interests(values: Iterable[str]) -> list[str]:
    """Interests as typed: phrases or sentences, one per line (a line break inside one, as a
    CSV cell or a settings string may hold, starts the next rather than being folded in)."""
    lines = [line for value in values for line in value.splitlines()]
    return check_terms(lines, "interests", MAX_INTEREST_CHARS)


@dataclass(frozen=True, slots=True)
class ProfileInput:
    """What a person (CLI flags, a CSV row, the preferences form) says about a subscriber."""

    email: str
    name: str = ""
    interests: Sequence[str] = ()
    exclude: Sequence[str] = ()
    authors: Sequence[str] = ()
    liked: Sequence[str] = ()
    max_items: int | str = 10
    min_score: float | str = 0.0
    send_at: str | None = None
    timezone: str | None = None
    weekdays_only: bool | str | None = None
    frequency: str = "daily"
    weekday: str = "mon"
    delivery: str = "email"
    quiet: str = "trending"
    # No edition before this date (YYYY-MM-DD); editions resume on it. Empty: not paused.
    pause_until: str | dt.date | None = None


def check_choice(value: str, what: str, choices: Sequence[str]) -> str:
    text = value.strip().casefold()
    if text not in choices:
        raise ValueError(f"{what} {value!r} must be one of {', '.join(choices)}")
    return text


def check_weekday(value: str) -> str:
    """ "mon" … "sun"; full names ("Monday") are accepted and shortened."""
    text = value.strip().casefold()
    full = {
        day: day[:3]
        for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    }
    return check_choice(full.get(text, text), "weekday", WEEKDAYS)


def check_weekdays_only(value: bool | str | None) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    text = value.strip().casefold()
    if text in ("", "default"):
        return None
    if text in ("1", "true", "yes", "y"):
        return True
    if text in ("0", "false", "no", "n"):
        return False
    raise ValueError(f"weekdays_only {value!r} must be true or false")


def check_max_items(value: int | str) -> int:
    try:
        count = int(value)
    except ValueError:
        raise ValueError(f"max_items {value!r} must be a whole number") from None
    if not 1 <= count <= 100:
        raise ValueError(f"max_items {count} must be between 1 and 100")
    return count


def check_min_score(value: float | str) -> float:
    try:
        score = float(value)
    except ValueError:
        raise ValueError(f"min_score {value!r} must be a number") from None
    if score < 0:
        raise ValueError(f"min_score {score} must not be negative")
    return score


def check_send_at(value: str | None) -> str | None:
    text = (value or "").strip() or None
    if text is None:
        return None
    hour, minute, second = parse_send_at(text)
    return f"{hour:02d}:{minute:02d}" + (f":{second:02d}" if second else "")


def check_zone(value: str | None) -> str | None:
    text = (value or "").strip() or None
    return None if text is None else check_timezone(text)


def check_frequency(value: str | None) -> str:
    return check_choice(value or "daily", "frequency", list(Frequency))


def check_delivery(value: str | None) -> str:
    return check_choice(value or "email", "delivery", list(Delivery))


def check_quiet(value: str | None) -> str:
    return check_choice(value or "trending", "quiet", list(Quiet))


def check_pause_until(value: str | dt.date | None) -> str | None:
    """A pause's end as YYYY-MM-DD, or None (empty, "none": not paused)."""
    if value is None or isinstance(value, dt.date):
        return None if value is None else value.isoformat()
    text = value.strip()
    if text.casefold() in ("", "none"):
        return None
    day = iso_day(text)
    if day is not None:
        return day.isoformat()
    raise ValueError(
        f"pause_until {value[:40]!r} must be a date, YYYY-MM-DD (or empty: not paused)"
    )


def check_weekly(frequency: str | None, weekday: str | None, weekdays_only: bool | None) -> None:
    """A weekly edition on a weekend day never comes to a weekdays-only reader."""
    if frequency == Frequency.WEEKLY and weekdays_only and weekday in ("sat", "sun"):
        raise ValueError(
            f"a weekly edition on {weekday} never comes with weekdays_only: pick a weekday"
            " from mon to fri, or turn weekdays_only off"
        )


def validated_row(given: ProfileInput) -> SubscriberRow:
    """Check everything a person typed; ProfileErrors (a ValueError) names every bad value
    and its fix, not only the first."""
    errors: list[str] = []

    def checked(check: Callable[..., Any], *args: Any) -> Any:
        try:
            return check(*args)
        except ValueError as exc:
            errors.append(str(exc))
            return None

    email = checked(normalise_address, given.email)
    terms = checked(check_interests, given.interests) or []
    interests = [found for text in terms if (found := checked(Interest.parse, text))]
    max_items = checked(check_max_items, given.max_items)
    min_score = checked(check_min_score, given.min_score)
    send_at = checked(check_send_at, given.send_at)
    timezone = checked(check_zone, given.timezone)
    frequency = checked(check_frequency, given.frequency)
    weekday = checked(check_weekday, given.weekday or "mon")
    weekdays_only = checked(check_weekdays_only, given.weekdays_only)
    checked(check_weekly, frequency, weekday, weekdays_only)
    profile: dict[str, Any] = {
        "interests": [interest_json(interest) for interest in interests],
        "exclude": checked(check_terms, given.exclude, "exclude terms"),
        "authors": checked(check_terms, given.authors, "authors"),
        "liked": checked(check_terms, given.liked, "liked papers"),
        "min_score": min_score,
        "max_items": max_items,
        "frequency": frequency,
        "weekday": weekday,
        "delivery": checked(check_delivery, given.delivery),
        "quiet": checked(check_quiet, given.quiet),
        "pause_until": checked(check_pause_until, given.pause_until),
    }
    if errors:
        raise ProfileErrors(errors)
    name = " ".join(given.name.split())
    return SubscriberRow(email, name, profile, send_at, timezone, weekdays_only)


def interest_json(interest: Interest) -> dict[str, Any]:
    """How the store keeps an interest in a reader's profile."""
    return {"phrase": interest.phrase, "weight": interest.weight}


def profile_input(person: Subscriber) -> ProfileInput:
    """A subscriber as editable input (the preferences form starts from this)."""
    return ProfileInput(
        email=person.email,
        name=person.name,
        interests=[str(interest) for interest in person.interests],
        exclude=person.exclude,
        authors=person.authors,
        liked=person.liked,
        max_items=person.max_items,
        min_score=person.min_score,
        send_at=person.send_at,
        timezone=person.timezone,
        weekdays_only=person.weekdays_only,
        frequency=person.frequency.value,
        weekday=person.weekday,
        delivery=person.delivery.value,
        quiet=person.quiet.value,
        pause_until=None if person.pause_until is None else person.pause_until.isoformat(),
    )
