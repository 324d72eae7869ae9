"""The `digest` command: a thin shell over the library. Parses arguments, calls the library,
prints results, and turns DigestError into a one-line message and an exit code."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import threading
import webbrowser
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from digest.clock import iso_day
from digest.editions import FORMATS
from digest.errors import DigestError, LibraryError, SettingsError, SubscriberError
from digest.models import (
    WEEKDAYS,
    Delivery,
    Frequency,
    IngestResult,
    Interest,
    Paper,
    Quiet,
    UpvoteMove,
)
from digest.safe_text import terminal_safe as _safe

if TYPE_CHECKING:
    from rich.console import Console

    from digest.settings import Settings


def _stdout() -> Console:
    from digest.terminal import stdout

    return stdout()


def _stderr() -> Console:
    from digest.terminal import stderr

    return stderr()


def _say(text: str, stop: threading.Event, *, err: bool = False) -> None:
    """Print a line, unless the reader of the stream has gone (`digest send | head`): then
    the stream goes to /dev/null and the send stops as on Ctrl-C, after the message in flight
    is recorded; the rest stays queued for the next run (exit 130)."""
    try:
        click.echo(_safe(text), err=err)
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, (sys.stderr if err else sys.stdout).fileno())
        os.close(devnull)
        stop.set()


def _echo(text: str, *, err: bool = False) -> None:
    click.echo(_safe(text), err=err)


class DigestGroup(click.Group):
    """Turns every DigestError into `digest: error: …` on stderr and the error's exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DigestError as exc:
            click.echo(f"digest: error: {exc}", err=True)
            ctx.exit(exc.exit_code)


class _Context:
    def __init__(self, settings_path: Path | None) -> None:
        self.settings_path = settings_path
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        from digest.settings import load_settings

        if self._settings is None:
            self._settings = load_settings(self.settings_path)
        return self._settings


pass_context = click.make_pass_decorator(_Context)


@click.group(cls=DigestGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--settings",
    "settings_path",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar="DIGEST_SETTINGS",
    default=None,
    help="Settings TOML file [default: settings.toml; env DIGEST_SETTINGS].",
)
@click.version_option(package_name="digest")
@click.pass_context
def cli(ctx: click.Context, settings_path: Path | None) -> None:
    """Trending papers in your inbox: ingest dumps, diff, rank, render, deliver."""
    ctx.obj = _Context(settings_path)


def _paper_json(paper: Paper) -> dict[str, Any]:
    return {"id": paper.arxiv_id or paper.key, "title": paper.title}


def _move_json(move: UpvoteMove) -> dict[str, Any]:
    return {
        **_paper_json(move.paper),
        "upvotes_before": move.upvotes_before,
        "upvotes_now": move.upvotes_now,
    }


def _result_json(result: IngestResult) -> dict[str, Any]:
    return {
        "source": result.source,
        "format": result.format,
        "snapshot": result.snapshot_id,
        "new": [_paper_json(p) for p in result.new],
        "seen_again": result.seen_again,
        "moved": [_move_json(m) for m in result.moved],
        "duplicate_dump": result.duplicate_dump,
    }


def _load_and_ingest(
    settings: Settings,
    sources: Sequence[str],
    format_: str | None,
    as_json: bool,
    as_of: dt.date | str | None = None,
) -> None:
    """Read and parse every source first (a bad one stores nothing), then ingest and report."""
    from digest.editions import Editions

    _report_ingest(Editions(settings).ingest(sources, format_, as_of=as_of), as_json)


def _as_of(value: str | None) -> dt.date | str | None:
    """`--as-of`: a YYYY-MM-DD date or the word `filename`."""
    from digest.editions.replay import FROM_NAME

    if value is None or value == FROM_NAME:
        return value
    day = iso_day(value)
    if day is not None:
        return day
    raise click.BadParameter(
        f"{_safe(value)[:40]!r} is neither a date (YYYY-MM-DD) nor `filename`",
        param_hint="--as-of",
    )


def _report_ingest(results: Sequence[IngestResult], as_json: bool) -> None:
    if as_json:
        for result in results:
            click.echo(json.dumps(_result_json(result), ensure_ascii=False))
        return
    from digest.terminal import SafeTable

    table = SafeTable("dump", "layout", "papers", "new", "seen again", "upvotes moved", box=None)
    sums = [0, 0, 0, 0]
    for result in results:
        counts = [
            len(result.new) + result.seen_again,
            len(result.new),
            result.seen_again,
            len(result.moved),
        ]
        sums = [a + b for a, b in zip(sums, counts, strict=True)]
        note = " (identical to an earlier dump)" if result.duplicate_dump else ""
        table.add_row(result.source + note, result.format, *map(str, counts))
    if len(results) > 1:
        table.add_section()
        table.add_row(f"total: {len(results)} dumps", "", *map(str, sums))
    _stdout().print(table)


@cli.command()
@click.argument("sources", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per dump per line.")
@click.option("--format", "format_", type=click.Choice(FORMATS), help="Skip auto-detection.")
@click.option(
    "--as-of",
    "as_of",
    metavar="DATE|filename",
    callback=lambda _ctx, _param, value: _as_of(value),
    help="Replay history: the papers count as first seen at the start of DATE (YYYY-MM-DD) in"
    " `timezone`, or, with `filename`, of the date each dump's name starts with"
    " (2025-07-25.jsonl). Then `digest send --date DATE` sends that day's edition.",
)
@pass_context
def ingest(
    obj: _Context,
    sources: tuple[str, ...],
    as_json: bool,
    format_: str | None,
    as_of: dt.date | str | None,
) -> None:
    """Ingest dumps and report what is new.

    SOURCES are files, folders (their dumps in name order; subfolders are not read) or http(s)
    URLs. Every source is read and parsed before anything is stored, so a bad one changes
    nothing."""
    from digest.editions import DUMP_SUFFIXES, skipped_files

    _load_and_ingest(obj.settings, sources, format_, as_json, as_of)
    skipped = skipped_files(sources)
    if skipped:
        names = ", ".join(f"{p}/" if p.is_dir() else str(p) for p in skipped)
        _stderr().print(
            f"skipped {len(skipped)} item(s), not dump files ({' '.join(DUMP_SUFFIXES)})"
            f" or subfolders: {names}"
        )


@cli.group()
def fetch() -> None:
    """Download today's listings over HTTP and ingest them."""


@fetch.command("hf")
@click.option(
    "--date",
    "dates",
    multiple=True,
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Day to fetch, YYYY-MM-DD (repeatable) [default: today in `timezone`].",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per dump per line.")
@pass_context
def fetch_hf(obj: _Context, dates: tuple[dt.datetime, ...], as_json: bool) -> None:
    """Fetch the Hugging Face daily papers of one or more days ([sources] hf_api_url)."""
    from digest.editions import Editions

    _report_ingest(Editions(obj.settings).fetch_hf([d.date() for d in dates]), as_json)


@fetch.command("arxiv")
@click.argument("categories", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per dump per line.")
@pass_context
def fetch_arxiv(obj: _Context, categories: tuple[str, ...], as_json: bool) -> None:
    """Fetch the arXiv feed of each CATEGORY ([sources] arxiv_feed_url; default: the
    [sources] arxiv_categories list)."""
    from digest.editions import Editions

    _report_ingest(Editions(obj.settings).fetch_arxiv(categories), as_json)


@cli.command()
@click.option("--limit", type=click.IntRange(1), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="A JSON list, newest first.")
@pass_context
def history(obj: _Context, limit: int, as_json: bool) -> None:
    """List the stored dumps, newest first."""
    from digest.editions import Editions
    from digest.terminal import SafeTable

    rows = Editions(obj.settings).history(limit)
    if as_json:
        listing = [
            {
                "snapshot": r.id,
                "source": r.source,
                "format": r.format,
                "ingested_at": r.ingested_at.isoformat(),
                "papers": r.paper_count,
                "new": r.new_count,
            }
            for r in rows
        ]
        click.echo(json.dumps(listing, ensure_ascii=False, indent=2))
        return
    table = SafeTable("#", "ingested", "dump", "layout", "papers", "new", box=None)
    for r in rows:
        table.add_row(
            str(r.id),
            r.ingested_at.strftime("%Y-%m-%d %H:%M"),
            r.source,
            r.format,
            str(r.paper_count),
            str(r.new_count),
        )
    _stdout().print(table)


@cli.command()
@click.argument("snapshot", type=int, required=False)
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@pass_context
def changes(obj: _Context, snapshot: int | None, as_json: bool) -> None:
    """What one stored dump changed (default: the latest): new papers and upvote movement."""
    from digest.editions import Editions

    found = Editions(obj.settings).changes(snapshot)
    if as_json:
        document = {
            "snapshot": found.snapshot.id,
            "source": found.snapshot.source,
            "new": [_paper_json(p.paper) for p in found.new],
            "seen_again": found.seen_again,
            "moved": [_move_json(m) for m in found.moved],
        }
        click.echo(json.dumps(document, ensure_ascii=False, indent=2))
        return
    out = _stdout()
    out.print(
        f"dump #{found.snapshot.id} {found.snapshot.source}: {len(found.new)} new,"
        f" {found.seen_again} seen again, {len(found.moved)} with upvotes moved"
    )
    for stored in found.new:
        out.print(f"  new    {stored.paper.title}")
    for move in found.moved:
        out.print(
            f"  {move.delta:+5d}  {move.paper.title} ({move.upvotes_before} → {move.upvotes_now})"
        )


@cli.command()
@click.option(
    "--format",
    "format_",
    type=click.Choice(FORMATS),
    default="hf-json",
    show_default=True,
    help="Dump format to write (any format `digest ingest` reads).",
)
@click.option("--snapshot", type=int, help="Only the papers of this stored dump (see history).")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), help="[default: stdout]")
@pass_context
def export(obj: _Context, format_: str, snapshot: int | None, out: Path | None) -> None:
    """Write stored papers as a dump that `digest ingest` reads back."""
    from digest.editions import Editions

    text, count = Editions(obj.settings).export_dump(format_, snapshot)
    _write_out(text, out, f"{count} papers")


def _write_out(text: str, out: Path | None, what: str) -> None:
    """An export: to stdout, or to `out` with a one-line note of what was written."""
    if out is None:
        click.echo(text, nl=False)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise DigestError(f"cannot write {out} ({exc.strerror})") from None
    _stderr().print(f"wrote {what} to {out}")


def _interest(text: str) -> Interest:
    """`phrase` or `phrase^weight` (as in search-engine boosts)."""
    try:
        return Interest.parse(text)
    except ValueError as exc:
        raise SettingsError(f"--interest: {exc}") from None


@cli.command("rank")
@click.argument("path")
@click.option(
    "--interest",
    "interests",
    multiple=True,
    help="Interest phrase, `phrase^2` weighs it double (repeatable).",
)
@click.option("--exclude", "excludes", multiple=True, help="Veto term (repeatable).")
@click.option("--author", "authors", multiple=True, help="Author to follow (repeatable).")
@click.option(
    "--like-dump",
    "like_dumps",
    multiple=True,
    help="A dump whose every paper is a liked paper (repeatable).",
)
@click.option("--min-score", type=click.FloatRange(0), default=0.0, show_default=True)
@click.option("--top", type=click.IntRange(1, 1000), default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list, best first.")
@click.option("--format", "format_", type=click.Choice(FORMATS), help="Skip auto-detection.")
def rank_command(
    path: str,
    interests: tuple[str, ...],
    excludes: tuple[str, ...],
    authors: tuple[str, ...],
    like_dumps: tuple[str, ...],
    min_score: float,
    top: int,
    as_json: bool,
    format_: str | None,
) -> None:
    """Rank the papers of one dump for an ad-hoc profile (read-only: no store, no settings)."""
    from digest.editions import rank_dumps
    from digest.terminal import SafeTable

    picks = rank_dumps(
        path,
        [_interest(i) for i in interests],
        exclude=excludes,
        authors=authors,
        like_dumps=like_dumps,
        top=top,
        min_score=min_score,
        format_=format_,
    )
    if as_json:
        rows = [
            {
                "id": p.paper.arxiv_id or p.paper.key,
                "title": p.paper.title,
                "score": p.score,
                "reasons": list(p.reasons),
            }
            for p in picks
        ]
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = SafeTable("#", "score", "title", "why", box=None)
    for number, pick in enumerate(picks, 1):
        table.add_row(str(number), f"{pick.score:.3f}", pick.paper.title, "; ".join(pick.reasons))
    _stdout().print(table)
    scores = [pick.score for pick in picks]
    if scores != sorted(scores, reverse=True):
        _stderr().print(
            "rows are in the order chosen: diversity (MMR) moves a paper much like one above it"
            " below papers that score lower"
        )


_DATE_OPTION = click.option(
    "--date",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="The edition of this day (YYYY-MM-DD; today or earlier) [default: today].",
)


@cli.command()
@click.option("--dry-run", is_flag=True, help="Rank and render, but send and record nothing.")
@click.option("--subscriber", "email", help="Only this subscriber.")
@click.option(
    "--transport",
    type=click.Choice(["smtp", "file", "maildir"]),
    default="smtp",
    show_default=True,
    help="smtp: the [smtp] relay; file: .eml files in --outbox; maildir: a Maildir at --outbox.",
)
@click.option("--outbox", type=click.Path(path_type=Path, file_okay=False), default=Path("outbox"))
@click.option("--retry-failed", is_flag=True, help="Send this edition's failed messages again.")
@_DATE_OPTION
@pass_context
def send(
    obj: _Context,
    dry_run: bool,
    email: str | None,
    transport: str,
    outbox: Path,
    retry_failed: bool,
    date: dt.datetime | None,
) -> None:
    """Send today's edition to every subscriber not yet served (safe to re-run); with
    --date, the edition of that day (a backfill, or a day replayed), ledger as usual."""
    from digest.editions import Carrier, Editions, Hooks, stop_on_signals

    stop = threading.Event()

    def report(address: str, outcome: str) -> None:
        _say(f"  {outcome:>10}  {address}", stop, err=True)

    def waiting() -> None:
        _say("another send is running on this database; waiting for it to finish", stop, err=True)

    stop_on_signals(stop, _stderr().print, again_interrupts=True)
    editions = Editions(obj.settings, hooks=Hooks(report, waiting, stop.is_set))
    run = editions.send(
        Carrier.DRY_RUN if dry_run else Carrier(transport),
        outbox=outbox,
        email=email,
        date=date.date() if date else None,
        retry_failed=retry_failed,
    )
    for retried in run.retried:
        _say(
            f"edition {retried.edition_id}: retried deferred messages: sent"
            f" {len(retried.sent)}, deferred again {len(retried.deferred)},"
            f" failed {len(retried.failed)}",
            stop,
        )
    for edition, count in run.requeued:
        _say(f"edition {edition}: {count} failed message(s) queued again", stop, err=True)
    verb = "would send" if dry_run else "sent"
    for zone, result in run.editions:
        where = f" ({zone})" if len(run.editions) > 1 else ""
        others = f", by other senders {len(result.elsewhere)}" if result.elsewhere else ""
        _say(
            f"edition {result.edition_id}{where}: {verb} {len(result.sent)}, already sent"
            f" {len(result.already_sent)}, nothing new for {len(result.empty)},"
            f" suppressed {len(result.suppressed)}, deferred {len(result.deferred)},"
            f" failed {len(result.failed)}{others}",
            stop,
        )
    for address, reason in run.deferred:
        _say(f"  deferred: {address}: {reason}", stop, err=True)
    if run.deferred:
        _say(
            f"{len(run.deferred)} deferred message(s) are tried again automatically by `digest"
            " daemon`, or by the next `digest send` once their time has come",
            stop,
            err=True,
        )
    for address, reason in run.failed:
        _say(f"  failed: {address}: {reason}", stop, err=True)
    for address, references in run.unknown_liked.items():
        _say(
            f"note: {len(references)} liked paper(s) of {address} are not in the store and were"
            f" left out: {'; '.join(references)} (they count once a dump brings them)",
            stop,
            err=True,
        )
    if stop.is_set():
        _say(
            "stopped on request after the message in flight; the rest stays queued:"
            " run `digest send` again to send it",
            stop,
            err=True,
        )
        sys.exit(130)
    if run.failed:
        sys.exit(6)


@cli.command()
@click.argument("edition", required=False)
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@pass_context
def status(obj: _Context, edition: str | None, as_json: bool) -> None:
    """Delivery counts per state for an edition (default: the latest) and its failures."""
    from digest.editions import Editions

    found = Editions(obj.settings).status(edition)
    chosen, counts, failures, held = found.edition_id, found.counts, found.failures, found.senders
    if as_json:
        document = {
            "edition": chosen,
            "counts": counts,
            "failures": [{"email": e, "error": err} for e, err in failures],
            "senders": held,
            "signups_last_24h": found.signups,
            "signups_refused_last_24h": found.refused,
            "bounces": {**found.bounces, **found.rates()},
            "bounce_reasons": found.bounce_reasons,
            "bounce_trust": found.bounce_trust,
            "bounce_trust_note": found.bounce_trust_note,
        }
        click.echo(json.dumps(document, indent=2))
        return
    click.echo(
        f"edition {chosen}: " + ", ".join(f"{state} {n}" for state, n in sorted(counts.items()))
    )
    for sender, count in held.items():
        _echo(f"  held unfinished by sender {sender}: {count}")
    for address, error in failures:
        _echo(f"  failed: {address}: {error}")
    if any(found.signups.values()):
        click.echo(
            "sign-ups in the last 24 h: "
            + ", ".join(f"{event} {n}" for event, n in found.signups.items())
        )
    if found.bounces:
        rates = found.rates()
        click.echo(
            "came back: "
            + ", ".join(f"{kind} {n}" for kind, n in sorted(found.bounces.items()))
            + f" (hard {rates['hard_rate']:.2%}, soft {rates['soft_rate']:.2%},"
            f" complaints {rates['complaint_rate']:.2%} of the messages sent)"
        )
        for kind, reasons in sorted(found.bounce_reasons.items()):
            _echo(f"  {kind}: " + ", ".join(f"{why} {n}" for why, n in reasons.items()))
    for warning in found.warnings(
        obj.settings.bounces.complaint_warning, obj.settings.bounces.hard_warning
    ):
        _echo(f"warning: {warning}", err=True)
    if found.bounce_trust == "unverified":
        _echo(f"note: {found.bounce_trust_note}")
    if found.refused:
        click.echo(
            "sign-ups turned away in the last 24 h: "
            + ", ".join(f"{reason} {n}" for reason, n in found.refused.items())
        )


@cli.command("preview")
@click.option("--subscriber", "email", help="Whose digest [default: the first subscriber].")
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("preview.html"),
    show_default=True,
)
@click.option("--open", "open_browser", is_flag=True, help="Open the file in a web browser.")
@_DATE_OPTION
@pass_context
def preview_command(
    obj: _Context, email: str | None, out: Path, open_browser: bool, date: dt.datetime | None
) -> None:
    """Write a subscriber's next digest to an HTML file (records nothing); with --date, their
    edition of that day as it would be ranked now."""
    from digest.editions import Editions

    message = Editions(obj.settings).preview(email, date.date() if date else None)
    try:
        out.write_text(message.html, encoding="utf-8")
        out.with_suffix(".txt").write_text(message.text, encoding="utf-8")
    except OSError as exc:
        raise DigestError(f"cannot write preview to {out} ({exc.strerror})") from None
    _echo(f"{message.subject}\nwrote {out} and {out.with_suffix('.txt')}")
    if open_browser:
        webbrowser.open(out.resolve().as_uri())


@cli.command("feedback")
@click.argument("email")
@click.argument("papers", nargs=-1, required=True)
@click.option("--more", is_flag=True, help="More papers like these.")
@click.option("--less", is_flag=True, help="Fewer papers like these.")
@click.option("--forget", is_flag=True, help="Undo feedback on these papers.")
@pass_context
def feedback_command(
    obj: _Context, email: str, papers: tuple[str, ...], more: bool, less: bool, forget: bool
) -> None:
    """Record a reader's feedback on PAPERS (arXiv ids or stored paper ids), as the email's
    "More like this" / "Less like this" links do: it shapes their next digests."""
    from digest.editions import Editions

    said = [name for name, given in (("more", more), ("less", less), ("forget", forget)) if given]
    if len(said) != 1:
        which = "none of them" if not said else " and ".join(f"--{name}" for name in said)
        raise SubscriberError(
            f"say exactly one of --more, --less or --forget (got {which}); nothing was recorded"
        )
    verdict = said[0]
    address, count = Editions(obj.settings).feedback(
        email, papers, None if verdict == "forget" else verdict
    )
    done = (
        "forgot the feedback on" if verdict == "forget" else f"recorded '{verdict} like this' for"
    )
    _echo(f"{done} {count} paper(s) for {address}")


@cli.group()
def bounces() -> None:
    """Bounces and complaints that arrived after the relay accepted a message."""


@bounces.command("process")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path, readable=False))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per message, a line each.")
@click.option("--dry-run", is_flag=True, help="Classify and match only; change nothing.")
@pass_context
def bounces_process(obj: _Context, paths: tuple[Path, ...], as_json: bool, dry_run: bool) -> None:
    """Read bounces from message files, folders of them, Maildir folders or mbox files: each
    message is called hard, soft, delayed, complaint, auto-reply, delivered or unrecognised,
    with the reason (user unknown, mailbox full, spam…), tied to its reader
    (VERP return path, returned Message-ID, failed recipient) and acted on: a hard bounce
    suppresses, soft ones are counted, a complaint unsubscribes. A message processed before
    counts once. A message that cannot be read (too large or complex, a FIFO or device, no
    permission) is one line, "not read", and the rest is still read; exit 9 only for a PATH
    that cannot be read at all."""
    from collections import Counter

    from digest.editions import Editions

    tally: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    for done in Editions(obj.settings).process_bounces(list(paths), dry_run=dry_run):
        tally[done.action] += 1
        kinds[done.kind if not done.kept_aside else "not read (kept aside)"] += 1
        if as_json:
            click.echo(json.dumps(done.as_json(), ensure_ascii=False))
            continue
        who = done.reader or "no reader"
        status = f" {done.status}" if done.status else ""
        why = f" ({done.reason})" if done.reason else ""
        note = f" ({done.note})" if done.note else ""
        _echo(f"{done.source}: {done.kind}{why}{status}, {who}: {done.action}{note}")
    summary = ", ".join(f"{action} {n}" for action, n in sorted(tally.items())) or "none"
    by_kind = ", ".join(f"{kind} {n}" for kind, n in sorted(kinds.items())) or "none"
    _echo(
        f"read {sum(kinds.values())} message(s): {by_kind}; {summary}"
        + (" (dry run)" if dry_run else ""),
        err=as_json,  # stdout stays one JSON object a line
    )


@cli.group()
def subscribers() -> None:
    """Manage the subscribers kept in the store (any number; no TOML needed)."""


def _profile_options(function: Any) -> Any:
    options = [
        click.option("--name", default="", help="Display name."),
        click.option(
            "--interest", "interests", multiple=True, help="Phrase, `phrase^2` (repeatable)."
        ),
        click.option("--exclude", "excludes", multiple=True, help="Veto term (repeatable)."),
        click.option("--author", "authors", multiple=True, help="Author to follow (repeatable)."),
        click.option("--like", "liked", multiple=True, help="Liked paper: arXiv id or title."),
        click.option("--max-items", default="10", show_default=True),
        click.option("--min-score", default="0", show_default=True),
        click.option("--send-at", help="HH:MM local time [default: the settings' send_at]."),
        click.option("--timezone", help="IANA zone [default: the settings' timezone]."),
        click.option(
            "--pause-until",
            metavar="DATE",
            help="No edition before DATE (YYYY-MM-DD); they resume on it by themselves. `none`"
            " clears a pause.",
        ),
        click.option(
            "--weekdays-only/--every-day",
            default=None,
            help="[default: the settings' weekdays_only].",
        ),
        *(
            click.option(
                name, type=click.Choice(choices), default=choices[0], show_default=True, help=what
            )
            for name, choices, what in (
                (
                    "--frequency",
                    [f.value for f in Frequency],
                    "Weekly: the week's best papers, on --weekday.",
                ),
                ("--weekday", list(WEEKDAYS), "The day a weekly edition comes."),
                (
                    "--delivery",
                    [d.value for d in Delivery],
                    "feed: only in their Atom feed, never mailed.",
                ),
                (
                    "--quiet",
                    [q.value for q in Quiet],
                    "A day with nothing for them: the note and the day's most upvoted papers"
                    " (trending), the note alone, or no email (skip).",
                ),
            )
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


@subscribers.command("add")
@click.argument("email")
@_profile_options
@pass_context
def subscribers_add(obj: _Context, /, email: str, **fields: Any) -> None:
    """Add a subscriber, or replace the profile of one already in the store."""
    from digest.editions import Editions
    from digest.profile import ProfileInput

    address, added, why = Editions(obj.settings).add_reader(
        ProfileInput(
            email=email,
            name=fields["name"],
            interests=fields["interests"],
            exclude=fields["excludes"],
            authors=fields["authors"],
            liked=fields["liked"],
            max_items=fields["max_items"],
            min_score=fields["min_score"],
            send_at=fields["send_at"],
            timezone=fields["timezone"],
            weekdays_only=fields["weekdays_only"],
            frequency=fields["frequency"],
            weekday=fields["weekday"],
            delivery=fields["delivery"],
            quiet=fields["quiet"],
            pause_until=fields["pause_until"],
        )
    )
    _echo(f"{'added' if added else 'updated'} {address}")
    if why is not None:
        _stderr().print(f"note: {address} gets no mail ({why}); their choice stands")


@subscribers.command("list")
@click.option("--json", "as_json", is_flag=True, help="A JSON list.")
@click.option("--containing", default="", help="Only addresses containing this text.")
@click.option("--limit", type=click.IntRange(1), help="At most this many [default: all].")
@click.option("--offset", type=click.IntRange(0), default=0, help="Skip this many first.")
@pass_context
def subscribers_list(
    obj: _Context, as_json: bool, containing: str, limit: int | None, offset: int
) -> None:
    """Everyone digest knows: settings first, then the store by address, with their status."""
    from digest.editions import Editions
    from digest.terminal import SafeTable

    listed, total = Editions(obj.settings).list_readers(containing, offset, limit)
    rows: list[dict[str, Any]] = [
        {
            "email": p.email,
            "name": p.name,
            "interests": [str(interest) for interest in p.interests],  # phrase^weight
            "max_items": p.max_items,
            "send_at": p.send_at,
            "timezone": p.timezone,
            "weekdays_only": p.weekdays_only,
            "frequency": p.frequency.value,
            "weekday": p.weekday,
            "delivery": p.delivery.value,
            "quiet": p.quiet.value,
            "pause_until": None if p.pause_until is None else p.pause_until.isoformat(),
            "source": entry.source,
            "status": entry.status,
            "unresolved_liked": list(entry.unresolved_liked),
            "bounces": [
                {
                    "at": e.at.isoformat(),
                    "kind": e.kind,
                    "reason": e.reason,
                    "status": e.status,
                    "source": e.source,
                    "action": e.action,
                }
                for e in entry.bounces
            ],
        }
        for entry in listed
        for p in (entry.reader,)
    ]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = SafeTable("email", "name", "interests", "sends", "from", "status", box=None)
    for r in rows:
        days = " weekdays" if r["weekdays_only"] else ""
        if r["frequency"] == "weekly":
            days = f" {r['weekday']}s"
        channel = " feed only" if r["delivery"] == "feed" else ""
        channel += f", paused until {r['pause_until']}" if r["pause_until"] else ""
        table.add_row(
            str(r["email"]),
            str(r["name"]),
            "; ".join(map(str, r["interests"])),
            f"{r['send_at']} {r['timezone']}{days}{channel}",
            str(r["source"]),
            str(r["status"])
            + (
                f"; {len(r['unresolved_liked'])} liked paper(s) not in the store"
                if r["unresolved_liked"]
                else ""
            )
            + _last_bounce(r["bounces"]),
        )
    _stdout().print(table)
    _stderr().print(f"{len(rows)} of {total} subscriber(s)")


def _last_bounce(events: list[dict[str, str]]) -> str:
    """The newest thing that came back for a reader, for the list's status column."""
    if not events:
        return ""
    last = events[0]
    status = f" {last['status']}" if last["status"] else ""
    return f"; last came back {last['at'][:10]}: {last['kind']}{status} ({last['action']})"


@subscribers.command("links")
@click.argument("email")
@click.option("--json", "as_json", is_flag=True, help="A JSON object.")
@pass_context
def subscribers_links(obj: _Context, email: str, as_json: bool) -> None:
    """A reader's own signed links (preferences, welcome page, archive, Atom feed,
    unsubscribe), to help them without digging through sent mail."""
    from digest.editions import Editions

    links = Editions(obj.settings).links(email)
    if as_json:
        click.echo(json.dumps(links, indent=2))
        return
    for name, url in links.items():
        click.echo(f"{name}: {url}")


@subscribers.command("consent")
@click.argument("email")
@click.option("--json", "as_json", is_flag=True, help="A JSON list, oldest first.")
@pass_context
def subscribers_consent(obj: _Context, email: str, as_json: bool) -> None:
    """An address's proof of consent: every sign-up, confirmation mail, confirmation and
    unsubscribe, with time, IP (as `[signup] record_ip` keeps it), user agent and page."""
    from digest.editions import Editions

    events = Editions(obj.settings).consent(email)
    if as_json:
        click.echo(json.dumps(events, ensure_ascii=False, indent=2))
        return
    if not events:
        raise SubscriberError(f"no consent recorded for {email!r}")
    for event in events:
        details = "  ".join(
            f"{key}={event[key]}" for key in ("ip", "page", "message_id") if event[key]
        )
        _echo(f"{event['at']}  {event['event']:<18} {details}".rstrip())


@subscribers.command("remove")
@click.argument("email")
@pass_context
def subscribers_remove(obj: _Context, email: str) -> None:
    """Delete a subscriber: profile, feedback, library and consent log (their sending history
    stays). The address is not mailed again until they sign up again or `digest subscribers
    resubscribe` says they asked."""
    from digest.editions import Editions

    removed, in_settings = Editions(obj.settings).remove_reader(email)
    if removed:
        _echo(f"removed {email}")
    if in_settings:
        _stderr().print(
            f"note: {email} is also in the settings file; it gets no mail, remove it there too"
        )


@subscribers.command("resubscribe")
@click.argument("email")
@pass_context
def subscribers_resubscribe(obj: _Context, email: str) -> None:
    """Mail an address again that unsubscribed or bounced (only when they asked for it)."""
    from digest.editions import Editions

    Editions(obj.settings).resubscribe(email)
    _echo(f"{email} gets digests again from the next edition")


@subscribers.command("import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@pass_context
def subscribers_import(obj: _Context, file: Path) -> None:
    """Add or update subscribers from a CSV file, all or nothing.

    The header names the columns: email (required), name, interests, exclude, authors, liked
    (lists separated by ";"), max_items, min_score, send_at, timezone, weekdays_only, more,
    less, frequency (daily|weekly), weekday (mon…sun), delivery (email|feed), quiet
    (trending|note|skip)."""
    from digest.editions import Editions

    count, added, kept_out = Editions(obj.settings).import_readers(file)
    click.echo(f"imported {count} subscriber(s) from {file}: {added} new, {count - added} updated")
    if kept_out:
        _stderr().print(
            f"note: {kept_out} of them unsubscribed or bounced earlier and stay unmailed"
        )


@subscribers.command("import-library")
@click.argument("email")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="The counts as a JSON object.")
@pass_context
def subscribers_import_library(
    obj: _Context, email: str, files: tuple[Path, ...], as_json: bool
) -> None:
    """Add the papers of a reader's library (BibTeX/BibLaTeX, RIS or CSL-JSON exports, from
    Zotero, Mendeley, JabRef, EndNote...) to their profile: digest learns their taste from them
    and never sends them one back. Every file is read before anything is stored."""
    from digest.editions import LIBRARY_BYTES, Editions
    from digest.errors import UnreadableFile
    from digest.safe_files import read_regular

    contents = []
    for file in files:  # a FIFO, a device or a folder is one line; none is read past the limit
        try:
            contents.append((str(file), read_regular(file, LIBRARY_BYTES)))
        except UnreadableFile as exc:
            raise LibraryError(f"{file}: {exc}") from None
    report = Editions(obj.settings).import_library(email, contents)
    if as_json:
        click.echo(json.dumps(report.as_json(), ensure_ascii=False, indent=2))
        return
    _echo(
        f"read {report.read} entries: {report.matched} matched to stored papers,"
        f" {report.without_abstract} kept without an abstract (by title),"
        f" {len(report.skipped)} skipped"
    )
    for skipped in report.skipped:
        _echo(f"  skipped {skipped.entry}: {skipped.reason}")
    _echo(f"{email}'s library holds {report.library} papers ({report.added} new)")


@subscribers.command("export")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), help="[default: stdout]")
@pass_context
def subscribers_export(obj: _Context, out: Path | None) -> None:
    """Write the store's subscribers as CSV that `digest subscribers import` reads back."""
    from digest.editions import Editions

    text, count = Editions(obj.settings).export_readers()
    _write_out(text, out, f"{count} subscriber(s)")


@cli.command()
@click.option(
    "--to",
    "target",
    required=True,
    metavar="URL",
    help="The new store: postgresql://user@host/dbname (password from PGPASSWORD).",
)
@pass_context
def migrate(obj: _Context, target: str) -> None:
    """Copy this store (papers, history, subscribers, feedback, ledger) into an empty
    PostgreSQL database and check every table's count; then point `database` at it."""
    from digest.editions import Editions, check_migration_target, shown_url

    check_migration_target(target)  # before the settings: a bad --to is the error to report
    counts = Editions(obj.settings).migrate(target)
    for table, count in counts.items():
        click.echo(f"{table:>13}  {count}")
    click.echo(
        f'copied into {shown_url(target)} and verified; set database = "{shown_url(target)}"'
        " in the settings to use it"
    )


@cli.command()
@click.option("--host", help="Address to listen on [default: [web] host, 127.0.0.1].")
@click.option("--port", type=click.IntRange(0, 65535), help="[default: [web] port, 8000].")
@pass_context
def serve(obj: _Context, host: str | None, port: int | None) -> None:
    """Serve the preview, archive, unsubscribe and preferences pages (waitress)."""
    from digest.web import serve as run_server

    settings = obj.settings
    chosen_host = host or settings.web.host
    chosen_port = settings.web.port if port is None else port
    run_server(settings, chosen_host, chosen_port, announce=_stderr().print)


@cli.command()
@pass_context
def daemon(obj: _Context) -> None:
    """Run by itself: ingest from [schedule] watch, send each subscriber's edition at their
    send_at in their time zone. SIGTERM finishes the message in flight and exits."""
    from digest.schedule import run_daemon
    from digest.settings import settings_path

    obj.settings  # noqa: B018 - a clear settings error before anything starts
    run_daemon(settings_path(obj.settings_path))


def _panel(panel: Path, corpus: Path, as_json: bool) -> None:
    """`digest eval --panel`: the panel's figures, as its own judge prints them."""
    from dataclasses import asdict

    from digest.panel import evaluate_panel, tap_effects

    with _stderr().status("replaying the panel's days through digest send"):
        found = evaluate_panel(panel, corpus)
        taps = tap_effects(panel, corpus)
    if as_json:
        document = {**asdict(found), "ratio": found.ratio, "taps": asdict(taps)}
        click.echo(json.dumps(document, indent=2))
        return
    for name, row in found.per_reader.items():
        click.echo(
            f"{name}: F1 {row['f1']:.2f} precision {row['precision']:.2f} grade-2 recall"
            f" {row['grade2_recall']:.2f} nDCG@10 {row['ndcg']:.3f}"
        )
    for example in found.examples:
        click.echo(f"  dishonest: {example}")
    click.echo(
        f"panel: F1 {found.f1:.2f} = {found.ratio:.2f}x BM25's best cut-off in hindsight"
        f" ({found.bm25_cut}); precision of shown {found.precision:.2f}; grade-2 recall"
        f" {found.grade2_recall:.2f}; nDCG@10 {found.ndcg:.3f} (BM25 top 10"
        f" {found.bm25_ndcg:.3f}); dishonest matches {found.dishonest} of {found.claims};"
        f" padded silent days {found.padded}; empty with a grade-2 paper"
        f" {found.empty_with_grade2} of {found.editions}; liked shown {found.liked_shown}"
    )
    click.echo(f"goals: {'all met' if found.goals_met() else 'not all met'}")
    off = sum(1 for grade in taps.more_admitted if grade == 0)
    click.echo(
        f"taps: one 'more' on each reader's top pick brought {len(taps.more_admitted)} new"
        f" papers into the next day's emails ({off} off topic); one 'less' left"
        f" {taps.less_kept} of the {taps.less_close} shown papers most like the tapped one"
    )


def _library(panel: Path | None, corpus: Path, every: int, as_json: bool) -> None:
    """`digest eval --library`: readers whose profile is their imported library."""
    from digest.evaluate_library import arxiv_library, panel_library

    if panel is None and not corpus.is_dir():  # a panel's days: digest.panel.panel_days
        raise DigestError(f"{corpus}: no such folder of days; name it as CORPUS")
    with _stderr().status("ranking each day for readers with a library"):
        found = panel_library(panel, corpus) if panel else arxiv_library(corpus, every=every)
    figures = found.as_json()
    if as_json:
        click.echo(json.dumps(figures, indent=2))
        return
    sizes = found.library_sizes
    svm = float(figures["svm_top10_ndcg"])  # type: ignore[arg-type]
    top, shown = float(figures["digest_top10_ndcg"]), float(figures["digest_shown_ndcg"])  # type: ignore[arg-type]
    click.echo(
        f"{'panel' if panel else 'arXiv'} readers with a library: {found.readers} readers,"
        f" libraries of {min(sizes, default=0)}-{max(sizes, default=0)} papers, {found.days}"
        " days"
    )
    click.echo(f"  arxiv-sanity SVM, top 10:  nDCG@10 {svm:.3f}")
    click.echo(f"  digest, top 10:            nDCG@10 {top:.3f} = {top / svm:.2f}x the SVM")
    click.echo(
        f"  digest, what emails show:  nDCG@10 {shown:.3f} = {shown / svm:.2f}x the SVM;"
        f" {figures['shown_per_day']:.1f} a day, precision {figures['shown_precision']:.2f}"
    )


# What digest's shown lists are compared with, per profile kind.
_BASELINES = ("BM25 (bm25s)", "BM25, one phrase", "arxiv-sanity SVM")


@cli.command("eval")
@click.argument(
    "corpus",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=Path("../shared/corpora/arxiv-daily"),
)
@click.option(
    "--every",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="Evaluate every N-th day (faster, rougher).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON.")
@click.option(
    "--learning-curve",
    "curve",
    is_flag=True,
    help="Instead: readers who answer each email with More/Less, against twins who never do.",
)
@click.option(
    "--panel",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="Instead: a reader panel (readers.json, labels.json) over Hugging Face days, judged on"
    " what the emails show; CORPUS is then the Hugging Face folder [default: DIR/../corpora/"
    "hf-daily].",
)
@click.option(
    "--library",
    is_flag=True,
    help="Instead: readers whose profile is an imported BibTeX library of 20-50 papers of their"
    " topic, against arxiv-sanity-lite's SVM on the same library (with --panel: the panel's"
    " readers and days).",
)
def eval_command(
    corpus: Path, every: int, as_json: bool, curve: bool, panel: Path | None, library: bool
) -> None:
    """Measure ranking quality (nDCG@10, P@10) on arXiv daily listings against baselines.

    CORPUS is a folder of arXiv JSONL days [default: ../shared/corpora/arxiv-daily]."""
    from rich.progress import Progress

    from digest.evaluate import evaluate, learning_curve

    if panel is not None:
        given = click.get_current_context().get_parameter_source("corpus")
        days = corpus if given is click.core.ParameterSource.COMMANDLINE else None
        hf_days = days or panel / ".." / "corpora" / "hf-daily"
        if library:
            _library(panel, hf_days, every, as_json)
        else:
            _panel(panel, hf_days, as_json)
        return
    if library:
        _library(None, corpus, every, as_json)
        return
    if curve:
        with Progress(console=_stderr(), transient=True) as bar:
            task = bar.add_task("answering each day's email", total=None)
            points = learning_curve(
                corpus, progress=lambda done, total: bar.update(task, completed=done, total=total)
            )
        if as_json:
            rows = [{"day": p.day, "learner": p.learner, "twin": p.twin} for p in points]
            click.echo(json.dumps(rows, indent=2))
            return
        click.echo(f"{'day':12} {'learner':>8} {'twin':>8}  (nDCG@10 of what each email shows)")
        for point in points:
            click.echo(f"{point.day:12} {point.learner:8.3f} {point.twin:8.3f}")
        last = points[-5:]
        learner = sum(p.learner for p in last) / max(1, len(last))
        twin = sum(p.twin for p in last) / max(1, len(last))
        ratio = learner / twin if twin else float("inf")
        click.echo(f"last {len(last)} days: learner {learner:.3f}, twin {twin:.3f}: {ratio:.2f}x")
        return

    with Progress(console=_stderr(), transient=True) as bar:
        task = bar.add_task("ranking each day", total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        scores = evaluate(corpus, every=every, progress=advance)
    if as_json:
        document = [
            {
                "method": s.method,
                "profile": s.profile,
                "ndcg_at_10": round(s.ndcg, 4),
                "precision_at_10": round(s.precision, 4),
                "shown_precision": None
                if s.shown_precision is None
                else round(s.shown_precision, 4),
                "shown_per_day": None if s.shown_per_day is None else round(s.shown_per_day, 2),
                "shown_ndcg_at_10": None if s.shown_ndcg is None else round(s.shown_ndcg, 4),
                "per_topic": {
                    t: {"ndcg_at_10": round(v[0], 4), "precision_at_10": round(v[1], 4)}
                    for t, v in s.per_topic.items()
                },
            }
            for s in scores
        ]
        click.echo(json.dumps(document, indent=2))
        return
    # Plain fixed-width text: this table is read in logs and pasted into READMEs.
    topics = list(scores[0].per_topic) if scores else []
    click.echo(
        f"{'method':26} {'profile':10} {'nDCG@10':>7} {'P@10':>6}  "
        + " ".join(f"{t:>7}" for t in topics)
    )
    for s in scores:
        cells = " ".join(
            f"{s.per_topic[t][0]:7.2f}" if t in s.per_topic else f"{'-':>7}" for t in topics
        )
        click.echo(f"{s.method:26} {s.profile:10} {s.ndcg:7.3f} {s.precision:6.3f}  {cells}")
    click.echo("(per-topic columns: nDCG@10, mean over days; macro average in the nDCG@10 column)")
    baselines = {s.profile: s for s in scores if s.method in _BASELINES}
    for s in scores:
        if s.shown_precision is not None and s.shown_per_day is not None:
            click.echo(
                f"{s.method}: the email shows {s.shown_per_day:.1f} papers a day (those that"
                f" clear a bar), precision {s.shown_precision:.3f}, against P@10"
                f" {s.precision:.3f} for the unthresholded top 10"
            )
        if s.shown_ndcg is not None and s.profile in baselines:
            base = baselines[s.profile]
            click.echo(
                f"{s.method}: nDCG@10 of what the email shows {s.shown_ndcg:.3f}"
                f" = {s.shown_ndcg / base.ndcg:.2f}x {base.method}'s top 10 ({base.ndcg:.3f})"
            )


@cli.command()
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("demo-output"),
    show_default=True,
)
@click.option(
    "--examples",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=None,
    help="Folder with dumps/ and settings.toml [default: the repo's examples/].",
)
def demo(out: Path, examples: Path | None) -> None:
    """Ingest the sample dumps, send every sample subscriber a digest through an embedded
    SMTP server on 127.0.0.1, and write what it received plus previews to --out."""
    from digest.demo import run_demo

    run_demo(out, examples)


def main() -> None:
    cli(prog_name="digest")


if __name__ == "__main__":
    main()
