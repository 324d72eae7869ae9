"""Subscribers: from `[[subscribers]]` in the settings and from the store's subscribers table.

The settings suit a handful of readers; the table holds any number (`digest subscribers
import`), and also each reader's own edits from the preferences page. Where both know an
address, the table wins. One validation path serves the CLI, CSV import and the web form.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from digest.errors import LibraryError, SubscriberError, UnreadableFile
from digest.library import MAX_BYTES as MAX_LIBRARY_BYTES
from digest.library import csl_json, read_library
from digest.models import Delivery, Frequency, Interest, LibraryEntry, Quiet, Subscriber
from digest.profile import (
    ProfileInput,
    SubscriberRow,
    interest_json,
    profile_input,
    validated_row,
)
from digest.safe_files import read_regular
from digest.settings import Settings, SubscriberSettings
from digest.store import Store

# CSV columns, in export order. Lists are separated by ";"; an interest may carry a weight
# as `phrase^2`. Only `email` is required on import.
CSV_COLUMNS = (
    *(f.name for f in dataclasses.fields(ProfileInput)),
    "more",
    "less",
    "library",
    "consent",
)
# The longest cell but a library (the csv module's own limit; a library may be megabytes).
MAX_CELL = 128 * 1024
MAX_CSV_BYTES = 256 * 1024 * 1024  # 100k readers with their libraries, far from any real list
# What each event of the `consent` column (a JSON list) holds.
CONSENT_FIELDS = ("event", "at", "ip", "user_agent", "page", "text_hash", "message_id")
MAX_SHOWN_ERRORS = 5


def from_settings(entry: SubscriberSettings, settings: Settings) -> Subscriber:
    """A `[[subscribers]]` entry, read as the store row it would be (one place for defaults)."""
    profile = {
        "interests": [
            interest_json(Interest(i) if isinstance(i, str) else Interest(i.phrase, i.weight))
            for i in entry.interests
        ],
        "exclude": list(entry.exclude),
        "authors": list(entry.authors),
        "liked": list(entry.liked),
        "min_score": entry.min_score,
        "max_items": entry.max_items,
        "frequency": entry.frequency,
        "weekday": entry.weekday,
        "delivery": entry.delivery,
        "quiet": entry.quiet,
        "pause_until": entry.pause_until,
    }
    row = SubscriberRow(
        str(entry.email), entry.name, profile, entry.send_at, entry.timezone, entry.weekdays_only
    )
    return from_row(row, settings)


def from_row(row: SubscriberRow, settings: Settings) -> Subscriber:
    profile = row.profile
    interests = profile.get("interests", [])
    send_at, timezone, weekdays_only = _when(settings, row.send_at, row.timezone, row.weekdays_only)
    return Subscriber(
        email=row.email,
        name=row.name,
        interests=tuple(Interest(i["phrase"], float(i.get("weight", 1.0))) for i in interests),
        exclude=tuple(profile.get("exclude", ())),
        authors=tuple(profile.get("authors", ())),
        liked=tuple(profile.get("liked", ())),
        min_score=float(profile.get("min_score", 0.0)),
        max_items=int(profile.get("max_items", 10)),
        send_at=send_at,
        timezone=timezone,
        weekdays_only=weekdays_only,
        frequency=Frequency(profile.get("frequency", Frequency.DAILY)),
        weekday=str(profile.get("weekday", "mon")),
        delivery=Delivery(profile.get("delivery", Delivery.EMAIL)),
        quiet=Quiet(profile.get("quiet", Quiet.TRENDING)),
        pause_until=_date_or_none(profile.get("pause_until")),
    )


def _date_or_none(value: Any) -> dt.date | None:
    """A stored pause's end (YYYY-MM-DD), or None; a value it cannot read counts as none."""
    try:
        return dt.date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _when(
    settings: Settings, send_at: str | None, timezone: str | None, weekdays: bool | None
) -> tuple[str, str, bool]:
    """(send_at, timezone, weekdays_only) with the settings' defaults for what is unset."""
    return (
        send_at or settings.send_at,
        timezone or settings.timezone,
        settings.weekdays_only if weekdays is None else weekdays,
    )


def _settings_only(settings: Settings, store: Store) -> list[SubscriberSettings]:
    """The settings' readers that no store row overrides (in the settings' order)."""
    overridden = store.readers.stored_addresses(str(s.email) for s in settings.subscribers)
    return [s for s in settings.subscribers if str(s.email).casefold() not in overridden]


def all_subscribers(settings: Settings, store: Store | None) -> list[Subscriber]:
    """Everyone digest knows: the settings' readers in their order, each replaced by the
    store's row for the same address when there is one, then the store's other readers."""
    rows = {row.email.casefold(): row for row in store.readers.subscriber_rows()} if store else {}
    people = []
    for entry in settings.subscribers:
        row = rows.pop(str(entry.email).casefold(), None)
        people.append(from_row(row, settings) if row else from_settings(entry, settings))
    people.extend(from_row(row, settings) for row in rows.values())
    return people


def page_of_subscribers(
    settings: Settings, store: Store, containing: str, offset: int, limit: int
) -> tuple[list[Subscriber], int]:
    """One page of everyone whose address contains `containing`, and how many match: the
    settings' readers the store does not override first, then the store's, by address. Only
    the page is read from the store (a listing of 100k readers stays quick)."""
    wanted = containing.casefold()
    from_file = [
        from_settings(entry, settings)
        for entry in _settings_only(settings, store)
        if wanted in str(entry.email).casefold()
    ]
    shown = from_file[offset : offset + limit]
    skip = max(0, offset - len(from_file))
    rows = store.readers.subscriber_rows(containing=wanted, offset=skip, limit=limit - len(shown))
    shown += [from_row(row, settings) for row in rows]
    return shown, len(from_file) + store.readers.count_subscribers(wanted)


def find(settings: Settings, store: Store | None, email: str) -> Subscriber | None:
    """One subscriber by address (an indexed lookup: a web request must not load 100k rows)."""
    rows = store.readers.subscriber_rows(email) if store else []
    if rows:
        return from_row(rows[0], settings)
    wanted = email.casefold()
    entry = next((s for s in settings.subscribers if str(s.email).casefold() == wanted), None)
    return None if entry is None else from_settings(entry, settings)


def schedules(settings: Settings, store: Store) -> set[tuple[str, str, bool]]:
    """Every distinct (send_at, timezone, weekdays_only) among the subscribers, read without
    loading them: the daemon asks every minute."""
    found = {_when(settings, *stored) for stored in store.readers.subscriber_schedules()}
    for entry in _settings_only(settings, store):
        found.add(_when(settings, entry.send_at, entry.timezone, entry.weekdays_only))
    return found


# A spreadsheet runs a cell that starts with one of these as a formula (=HYPERLINK(...) in a
# reader's name would be a live link in the operator's sheet): an export starts such a cell
# with an apostrophe, which spreadsheets show as text, and an import takes it off again.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> object:
    """A value as a CSV cell a spreadsheet shows as text."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def _uncell(value: str | None) -> str | None:
    """A cell as written by `_cell`: the apostrophe before a formula's first character off."""
    if value and value.startswith("'") and value[1:].startswith(_FORMULA_STARTS):
        return value[1:]
    return value


def _json_or_empty(events: list[dict[str, str]]) -> str:
    return json.dumps(events, ensure_ascii=False, separators=(",", ":")) if events else ""


def _split(cell: str | None) -> list[str]:
    return [part for part in (cell or "").split(";") if part.strip()]


def read_csv(path: Path) -> list[SubscriberRow]:
    """Parse and validate a subscribers CSV; every bad row is reported by line, and a file
    with any bad row yields nothing (the import is all or nothing)."""
    try:
        text = read_regular(path, MAX_CSV_BYTES).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SubscriberError(f"{path}: not UTF-8 text; save the CSV as UTF-8") from None
    except UnreadableFile as exc:
        raise SubscriberError(f"{path}: {exc}") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    limit = csv.field_size_limit(max(csv.field_size_limit(), MAX_LIBRARY_BYTES))
    try:
        return _read_rows(path, reader)
    finally:
        csv.field_size_limit(limit)


def _read_rows(path: Path, reader: csv.DictReader[str]) -> list[SubscriberRow]:
    header = [h.strip() for h in reader.fieldnames or []]
    if "email" not in header:
        raise SubscriberError(
            f"{path}: the first line must be a header naming the columns, with at least"
            f" 'email' (known: {', '.join(CSV_COLUMNS)})"
        )
    unknown = [h for h in header if h not in CSV_COLUMNS]
    if unknown:
        raise SubscriberError(
            f"{path}: unknown column(s) {', '.join(map(repr, unknown))};"
            f" known: {', '.join(CSV_COLUMNS)}"
        )
    reader.fieldnames = header
    rows: dict[str, SubscriberRow] = {}
    first_line: dict[str, int] = {}
    errors: list[str] = []
    for line, record in _records(path, reader):
        if None in record:
            errors.append(f"line {line}: more cells than columns")
            continue
        if not any((value or "").strip() for value in record.values()):
            continue  # a blank line
        too_long = [k for k, v in record.items() if k != "library" and len(v or "") > MAX_CELL]
        if too_long:
            errors.append(f"line {line}: the {too_long[0]} cell is longer than 128 KiB")
            continue
        try:
            row = validated_row(
                ProfileInput(
                    email=record.get("email") or "",
                    name=record.get("name") or "",
                    interests=_split(record.get("interests")),
                    exclude=_split(record.get("exclude")),
                    authors=_split(record.get("authors")),
                    liked=_split(record.get("liked")),
                    max_items=(record.get("max_items") or "").strip() or 10,
                    min_score=(record.get("min_score") or "").strip() or 0.0,
                    send_at=record.get("send_at"),
                    timezone=record.get("timezone"),
                    weekdays_only=record.get("weekdays_only"),
                    frequency=record.get("frequency") or "daily",
                    weekday=record.get("weekday") or "mon",
                    delivery=record.get("delivery") or "email",
                    quiet=record.get("quiet") or "trending",
                    pause_until=record.get("pause_until"),
                )
            )
        except ValueError as exc:
            errors.append(f"line {line}: {exc}")
            continue
        asked_more, asked_less = _split(record.get("more")), _split(record.get("less"))
        if asked_more or asked_less:
            row = dataclasses.replace(row, more=tuple(asked_more), less=tuple(asked_less))
        library = (record.get("library") or "").strip()
        if library:
            try:  # read now, so that a bad library fails the whole import
                read = read_library("library.json", library.encode())
            except LibraryError as exc:
                errors.append(f"line {line}: the library column: {exc}")
                continue
            row = dataclasses.replace(row, library=read)
        consent = (record.get("consent") or "").strip()
        if consent:
            try:
                row = dataclasses.replace(row, consent=_consent_events(consent))
            except ValueError as exc:
                errors.append(f"line {line}: the consent column: {exc}")
                continue
        key = row.email.casefold()
        if key in rows:
            errors.append(f"line {line}: {row.email} is already on line {first_line[key]}")
            continue
        rows[key], first_line[key] = row, line
    if errors:
        shown = "; ".join(errors[:MAX_SHOWN_ERRORS])
        more = (
            f" (and {len(errors) - MAX_SHOWN_ERRORS} more)"
            if len(errors) > MAX_SHOWN_ERRORS
            else ""
        )
        raise SubscriberError(
            f"{path}: {len(errors)} bad row(s), nothing imported: {shown}{more};"
            " fix them and import again"
        )
    return list(rows.values())


def _consent_events(cell: str) -> tuple[dict[str, str], ...]:
    """The consent column's JSON list of events; ValueError names what is wrong."""
    try:
        events = json.loads(cell)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg})") from None
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise ValueError("expected a JSON list of events (objects)")
    checked = []
    for event in events:
        if not isinstance(event.get("event"), str) or not isinstance(event.get("at"), str):
            raise ValueError("every event needs its 'event' and 'at'")
        try:
            dt.datetime.fromisoformat(event["at"])
        except ValueError:
            raise ValueError(f"event time {event['at']!r} is not ISO 8601") from None
        checked.append({key: str(event.get(key) or "") for key in CONSENT_FIELDS})
    return tuple(checked)


def _records(path: Path, reader: csv.DictReader[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line, row) of a CSV, its cells as written (apostrophes before formulas off); a line
    the csv module cannot read (a field of over 128 KiB, a stray quote) is one clear error."""
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # raised before the line it could not read is counted
            raise SubscriberError(
                f"{path}: line {reader.line_num + 1}: {exc}; nothing imported: fix the line and"
                " import again"
            ) from None
        cells = {
            key: [_uncell(v) for v in value] if isinstance(value, list) else _uncell(value)
            for key, value in record.items()
        }
        yield reader.line_num, cells


def write_csv(
    people: Iterable[Subscriber],
    feedback: dict[str, tuple[list[str], list[str]]] | None = None,
    libraries: dict[str, list[LibraryEntry]] | None = None,
    consent: dict[str, list[dict[str, str]]] | None = None,
) -> str:
    """The CSV `read_csv` reads back (every field explicit); `feedback` per address: the
    papers (arXiv ids or stored ids) the reader asked more and less of; `libraries`: their
    library, as CSL-JSON; `consent`: their consent log, a JSON list."""
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for person in people:
        given = profile_input(person)
        more, less = (feedback or {}).get(person.email, ([], []))
        row = {
            **{name: getattr(given, name) for name in CSV_COLUMNS if hasattr(given, name)},
            "interests": ";".join(given.interests),
            "exclude": ";".join(given.exclude),
            "authors": ";".join(given.authors),
            "liked": ";".join(given.liked),
            "min_score": f"{float(given.min_score):g}",
            "weekdays_only": "true" if given.weekdays_only else "false",
            "pause_until": given.pause_until or "",
            "more": ";".join(more),
            "less": ";".join(less),
            # Oldest import first (the store lists the newest first), so that importing the
            # CSV gives each entry back its place, and the ranker the same newest entries.
            "library": csl_json(reversed((libraries or {}).get(person.email, []))),
            "consent": _json_or_empty((consent or {}).get(person.email, [])),
        }
        writer.writerow({name: _cell(value) for name, value in row.items()})
    return out.getvalue()
