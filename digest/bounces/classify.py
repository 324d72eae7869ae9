"""What a message that came back is: a hard bounce (the address is dead), a soft one (not
delivered this time, or for what was sent), a warning that delivery is still being tried, a
complaint, an auto-reply, a delivery or read receipt, or none of these; and why (a Reason).

The standard parts decide where a server wrote them: a feedback report (RFC 5965) is a
complaint (digest.bounces.others reads it and the other shapes complaints come in); a
delivery-status part (RFC 3464) gives each recipient's action, status code and diagnostic.
What the server said decides the reason, and the reason the kind (`understand`): its
enhanced status code where that is specific, the words of its diagnostic where they name
another reason or the code is generic ("5.0.0", none), from the table of
digest.bounces.patterns; never the 5 alone. For the reports that follow no standard (Exim,
qmail, Sendmail's transcripts, Exchange, Notes, Yahoo, the Japanese carriers…) flufl.bounce,
GNU Mailman's detectors, finds the recipients and the report's own words decide. A message
that is no report is a complaint, an auto-reply, a challenge, a receipt or nothing
(digest.bounces.others)."""

from __future__ import annotations

import html
import logging
import re
from dataclasses import dataclass, replace
from email.message import Message
from email.utils import getaddresses

from digest.bounces.fields import address, fields, inner
from digest.bounces.others import complaint, never_counted, ses_notice
from digest.bounces.patterns import (
    DEAD,
    DEAD_REASONS,
    DELAYED,
    EXPIRED,
    NOT_DEAD,
    REASONS,
    REPORT_SUBJECT,
    REPORTER,
    RETURNED,
    STATUS,
    Reason,
)
from digest.bounces.verdicts import Kind, Verdict
from digest.errors import TooComplex

log = logging.getLogger("digest.bounces")

MAX_PARTS = 200  # a report has a handful; thousands are a MIME bomb
MAX_DEPTH = 12
MAX_TEXT = 20_000  # characters of a report's own words that are read
MAX_SCANNED = 1_000_000  # characters of its text parts searched for them (tags and all)
# flufl.bounce's detectors try some 25 patterns on every line of every part (~35 us a line,
# ~1 s a megabyte): a report, with the message it returns, has a few thousand lines and a
# few hundred kilobytes; they are not asked about a longer one.
MAX_DETECTOR_LINES = 20_000
MAX_DETECTOR_CHARS = 500_000
_TAG = re.compile(r"<[^<>]*>")
# Lines a report quotes from the returned message ("Subject: …" of an Exchange report).
_QUOTED = re.compile(r"^[ \t>]*(?:subject|sent|date|cc)[ \t]*:.*$", re.I | re.M)
_ADDRESS = re.compile(r"(?<![\w.+'=-])[\w.+'=-]+@[\w-]+(?:\.[\w-]+)+")


# When recipients of one report fare differently, the report is named after the gravest.
_GRAVITY = (Kind.COMPLAINT, Kind.HARD, Kind.SOFT, Kind.DELAYED, Kind.DELIVERED)


def parts(message: Message) -> list[Message]:
    """Every part, depth first, refusing a MIME bomb (TooComplex)."""
    found: list[Message] = []
    stack: list[tuple[Message, int]] = [(message, 0)]
    while stack:
        part, depth = stack.pop()
        if depth > MAX_DEPTH or len(found) >= MAX_PARTS:
            raise TooComplex(f"more than {MAX_PARTS} MIME parts or {MAX_DEPTH} levels deep")
        found.append(part)
        payload = part.get_payload()
        if isinstance(payload, list):
            stack.extend(
                (child, depth + 1) for child in reversed(payload) if isinstance(child, Message)
            )
    return found


def classify(message: Message) -> Verdict:
    """The kind of one message that came back (see the module's doc)."""
    try:
        every = parts(message)
    except TooComplex as exc:
        return Verdict(Kind.UNRECOGNISED, diagnostic=str(exc))
    original = _original_id(every) or _referenced(message)
    found = complaint(message, every, original) or _standard(message, every, original)
    if found is not None:
        return found
    text = _first_text(every)
    found = ses_notice(message, text)
    if found is not None:
        return replace(found, original_id=found.original_id or original)
    if _is_report(message, every):
        return _from_words(message, every, original)
    found = never_counted(message, every, text)
    if found is not None:
        return replace(found, original_id=original)
    if _may_be_report(message):
        return _from_words(message, every, original)
    return Verdict(Kind.UNRECOGNISED, original_id=original)


def _standard(message: Message, every: list[Message], original: str) -> Verdict | None:
    """What a report's RFC 3464 or RFC 8098 part says, if it names anyone."""
    types = {p.get_content_type() for p in every}
    found = None
    if "message/delivery-status" in types:
        found = _from_status_parts(every, message, original)
    if found is None and "message/disposition-notification" in types:
        found = _from_disposition(every, message, original)
    return found


def _is_report(message: Message, every: list[Message]) -> bool:
    """Whether a message says it is a delivery report: its failed-recipients header, a
    multipart/report, a reporter's sender (MAILER-DAEMON, postmaster…) or subject."""
    sender = f"{message.get('From', '')} {message.get('Sender', '')}"
    return bool(
        message.get("X-Failed-Recipients")
        or any(p.get_content_type() == "multipart/report" for p in every)
        or REPORTER.search(sender)
        or REPORT_SUBJECT.search(str(message.get("Subject", "")))
    )


def _may_be_report(message: Message) -> bool:
    """The weaker signs, asked only of a message that is no auto-reply or receipt: an empty
    return path (a vacation reply has one too) or Auto-Submitted: auto-generated (failure)."""
    return bool(
        str(message.get("Return-Path", "")).strip() == "<>"
        or "failure" in str(message.get("Auto-Submitted", "")).lower()
    )


def _first_text(every: list[Message]) -> str:
    """The first text part's words as written (an SES notice's JSON, a challenge's text)."""
    part = next((p for p in every if p.get_content_type() == "text/plain"), None)
    return _decoded(part)[:MAX_SCANNED] if part is not None else ""


# -- RFC 3464: delivery status notifications -------------------------------------------------


def _from_status_parts(every: list[Message], message: Message, original: str) -> Verdict | None:
    """Each recipient's fate from the delivery-status parts; None if they name nobody."""
    blocks = [
        block
        for part in every
        if part.get_content_type() == "message/delivery-status"
        for block in fields(part)
        if block.get("Final-Recipient") or block.get("Original-Recipient")
    ]
    if not blocks:
        return None
    words = _report_words(message, every)
    fates = [_fate(block, words) for block in blocks]
    gravest = min(fates, key=lambda f: _GRAVITY.index(f.kind))
    recipients = tuple(dict.fromkeys(f.recipients[0] for f in fates
                                     if f.kind is gravest.kind and f.recipients[0]))  # fmt: skip
    return replace(gravest, recipients=recipients, original_id=original)


def _fate(block: Message, words: str) -> Verdict:
    """One recipient's fate, from its delivery-status fields (the report's words when the
    server gave no diagnostic): a failure with a 4.x.x status, or that says it was given
    up on, expired."""
    who = address(block.get("Original-Recipient", "")) or address(block.get("Final-Recipient", ""))
    action = block.get("Action", "failed").strip().lower()
    status = " ".join(str(block.get("Status", "")).split())
    diagnostic = " ".join(str(block.get("Diagnostic-Code", "")).split())
    if action.startswith(("delivered", "relayed", "expanded")):
        return Verdict(Kind.DELIVERED, (who,), status[:40], diagnostic[:300])
    if action.startswith("delayed") and not EXPIRED.search(diagnostic or _naming(words, who)):
        return Verdict(Kind.DELAYED, (who,), status[:40], diagnostic[:300])
    said = understand(f"{status} {diagnostic}", "" if diagnostic else _about(words, who))
    reason = said.reason
    if reason is Reason.OTHER and (status.startswith("4.") or EXPIRED.search(words)):
        reason = Reason.EXPIRED  # given up after retries, for no stated reason
    line = diagnostic or _line(words, said.kind)
    return Verdict(said.kind, (who,), (said.code or status)[:40], line[:300], reason=reason)


def _from_disposition(every: list[Message], message: Message, original: str) -> Verdict | None:
    """RFC 8098: a read receipt (displayed, dispatched, processed) is a delivery; a message
    deleted unread (a Sieve "reject": "Quota exceeded") is judged by its words."""
    part = next(p for p in every if p.get_content_type() == "message/disposition-notification")
    blocks = fields(part)
    disposition = str(blocks[0].get("Disposition", "")).lower() if blocks else ""
    original = original or (str(blocks[0].get("Original-Message-ID", "")).strip() if blocks else "")
    if re.search(r";\s*(?:displayed|dispatched|processed)", disposition):
        return Verdict(Kind.DELIVERED, original_id=original)
    if "deleted" in disposition or "denied" in disposition:
        return _from_words(message, every, original)
    return None


# -- the reports that follow no standard -------------------------------------------------------


def _from_words(message: Message, every: list[Message], original: str) -> Verdict:
    words = _report_words(message, every)
    recipients = _failed_recipients(message, words)
    if DELAYED.search(words) and not DEAD.search(words):
        return Verdict(Kind.DELAYED, recipients, diagnostic=_line(words), original_id=original)
    said = understand(words, "")
    reason = said.reason
    if reason is Reason.OTHER and EXPIRED.search(words):
        reason = Reason.EXPIRED
    line = _line(words, said.kind)
    return Verdict(said.kind, recipients, said.code, line, original, reason)


@dataclass(frozen=True, slots=True)
class Said:
    """What a server said about one failure: hard or soft, why, and its status code."""

    kind: Kind
    reason: Reason
    code: str


def judge(said: str, fallback: str) -> tuple[Kind, str]:
    """HARD or SOFT for a failure, and the status code it gave (see `understand`)."""
    found = understand(said, fallback)
    return found.kind, found.code


def understand(said: str, fallback: str) -> Said:
    """Why a failure happened, from the server's code and words (the report's own words when
    the server gave none): a code that names a dead address decides unless the words name
    a reason that is not (Sendmail calls every refusal 5.1.1); a code that names another
    reason decides unless the words name another one, or say the user is unknown (5.7.1
    "Nonexistent user"; a "disabled" there is often the sender's); a 4.x.x code is never
    dead; a generic code (5.0.0, 5.5.0, 5.4.4) or none: the words."""
    text = said if said.strip() else fallback
    code = _status(text)
    if _by_code(code) is None and fallback is not text:
        code = _status(fallback) or code
    by_code = _by_code(code)
    by_words = _by_words(text) or (_by_words(fallback) if fallback is not text else None)
    if code.startswith("4."):
        reason = next(
            (r for r in (by_words, by_code) if r is not None and r not in DEAD_REASONS),
            Reason.OTHER,
        )
    elif by_code in DEAD_REASONS:  # overruled by another reason, never by "try again"
        reason = by_code if by_words in (None, Reason.OTHER) else by_words
    elif by_code is not None:  # of the dead reasons, only "user unknown" overrules it
        vague = (None, Reason.OTHER, Reason.HOST_UNKNOWN, Reason.DISABLED)
        reason = by_code if by_words in vague else by_words
    else:
        reason = by_words or Reason.OTHER
    return Said(Kind.HARD if reason in DEAD_REASONS else Kind.SOFT, reason, code)


def _status(text: str) -> str:
    """The enhanced status code that says most: the first that names a reason, else the
    first given (5.0.0: "something failed"), else none."""
    codes = [".".join(m.groups()) for m in STATUS.finditer(text)]
    return next((c for c in codes if _by_code(c) is not None), codes[0] if codes else "")


def _by_code(code: str) -> Reason | None:
    """The reason an enhanced status code names: an exact code of the table, else its
    longest prefix ("5.7." for 5.7.1), else None (5.0.0, 5.5.0, 5.4.4: generic)."""
    if not code:
        return None
    exact = next((rule.reason for rule in REASONS if code in rule.codes), None)
    if exact is not None:
        return exact
    prefixes = [(len(c), rule.reason) for rule in REASONS for c in rule.codes
                if c.endswith(".") and code.startswith(c)]  # fmt: skip
    return max(prefixes)[1] if prefixes else None


def _by_words(text: str) -> Reason | None:
    """The first reason of the table whose words the text says."""
    return next((rule.reason for rule in REASONS if rule.words.search(text)), None)


def _about(words: str, who: str) -> str:
    """The lines of a report's words about this recipient, else all of them."""
    return _naming(words, who) or words


def _naming(words: str, who: str) -> str:
    """The lines of a report's words that name this recipient, each with the lines under it
    (Exim's layout), or nothing."""
    if not who:
        return ""
    lines = words.splitlines()
    found = []
    for n, line in enumerate(lines):
        if who in line.lower():
            end = next((m for m in range(n + 1, len(lines)) if not lines[m].strip()), len(lines))
            found.extend(lines[n : min(end, n + 4)])
    return "\n".join(found)


def _report_words(message: Message, every: list[Message]) -> str:
    """The report's own words: its text parts before the returned message, tags stripped,
    the returned copy and quoted header lines cut off."""
    texts = []
    for part in every[1:] if message.is_multipart() else every:
        kind = part.get_content_type()
        if kind in ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers"):
            break
        if kind in ("text/plain", "text/html"):
            texts.append(_decoded(part))
    text = "\n".join(texts)[:MAX_SCANNED]
    cut = RETURNED.search(text)
    if cut:
        text = text[: cut.start()]
    text = _QUOTED.sub("", html.unescape(_TAG.sub(" ", text)))
    return text[:MAX_TEXT]  # not the subject: it often quotes the returned message's


def _decoded(part: Message) -> str:
    raw = part.get_payload(decode=True)
    if not isinstance(raw, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return raw.decode(charset, "replace")
    except LookupError:
        return raw.decode("latin-1")


def _failed_recipients(message: Message, words: str) -> tuple[str, ...]:
    """Who did not get the message: X-Failed-Recipients, else what flufl.bounce's detectors
    find, else the addresses in the report's own words (not the reporter's)."""
    named = [a for _, a in getaddresses([str(message.get("X-Failed-Recipients", ""))]) if a]
    if not named:
        named = _flufl(message)
    if not named:
        named = [a for a in _ADDRESS.findall(words) if not REPORTER.search(a.split("@")[0])]
    return tuple(dict.fromkeys(a.strip("<>.").lower() for a in named if "@" in a))


def _flufl(message: Message) -> list[str]:
    from flufl.bounce import all_failures

    if _too_long_for_detectors(message):
        return []
    try:
        temporary, permanent = all_failures(message)
    except Exception:  # a detector that trips over a hostile message finds nobody
        log.debug("flufl.bounce failed on a message", exc_info=True)
        return []
    return [a.decode("utf-8", "replace") for a in (*permanent, *temporary)]


def _too_long_for_detectors(message: Message) -> bool:
    """Whether a message's text as parsed (its parts' payloads, not decoded) is longer than
    flufl.bounce's detectors are asked to read."""
    texts = [text for p in message.walk() if isinstance(text := p.get_payload(), str)]
    lines = sum(text.count("\n") for text in texts)
    return lines > MAX_DETECTOR_LINES or sum(map(len, texts)) > MAX_DETECTOR_CHARS


def _original_id(every: list[Message]) -> str:
    """The Message-ID of the returned message (its copy, or its headers), if any."""
    for part in every:
        if part.get_content_type() in ("message/rfc822", "text/rfc822-headers"):
            returned = inner(part)
            if returned is not None and returned.get("Message-ID"):
                return str(returned.get("Message-ID")).strip()
    return ""


def _referenced(message: Message) -> str:
    """The message a report answers, as its References name it (Exim's reports do), when it
    carries no copy of it."""
    found = re.findall(r"<[^<>\s]+>", str(message.get("References", "")))
    return found[-1] if found else ""


def _line(words: str, kind: Kind | None = None) -> str:
    """The report's most telling line: one that says why (that the address is dead, for a
    hard bounce), else its first non-empty one."""
    lines = [" ".join(line.split()) for line in words.splitlines() if line.strip()]
    if kind is Kind.HARD:
        for line in lines:
            if DEAD.search(line):
                return line[:300]
    for line in lines[1:]:
        if DEAD.search(line) or NOT_DEAD.search(line) or STATUS.search(line):
            return line[:300]
    return (lines[1] if len(lines) > 1 else lines[0] if lines else "")[:300]
