"""The `digest` command: a thin shell over the library. Parses arguments, calls the library,
prints results, and turns DigestError into a one-line message and an exit code."""

from __future__ import annotations

import datetime as dt
import json
import sys
import webbrowser
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from digest.deliver import (
    DryRunTransport,
    FileTransport,
    SmtpTransport,
    Transport,
    preview,
    send_edition,
    subscribers_from,
)
from digest.diff import load_all
from digest.errors import DigestError, SettingsError
from digest.models import IngestResult, Subscriber
from digest.rank import Profile, rank
from digest.settings import Settings, load_settings
from digest.sources import FORMATS
from digest.store import Store

stderr = Console(stderr=True, highlight=False)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


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


def _result_json(result: IngestResult) -> dict[str, Any]:
    return {
        "source": result.source,
        "format": result.format,
        "new": [{"id": p.arxiv_id or p.key, "title": p.title} for p in result.new],
        "seen_again": result.seen_again,
        "duplicate_dump": result.duplicate_dump,
    }


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per dump per line.")
@click.option("--format", "format_", type=click.Choice(FORMATS), help="Skip auto-detection.")
@pass_context
def ingest(obj: _Context, paths: tuple[Path, ...], as_json: bool, format_: str | None) -> None:
    """Ingest dumps (files or folders, in name order) and report what is new."""
    settings = obj.settings
    snapshots = load_all(paths, format_)  # parse everything first: a bad dump changes nothing
    with Store.open(settings.database) as store:
        results = [store.ingest(snapshot, utc_now()) for snapshot in snapshots]
    if as_json:
        for result in results:
            click.echo(json.dumps(_result_json(result), ensure_ascii=False))
        return
    table = Table("dump", "layout", "papers", "new", "seen again", box=None)
    for result in results:
        total = len(result.new) + result.seen_again
        note = " (identical to an earlier dump)" if result.duplicate_dump else ""
        table.add_row(
            result.source + note,
            result.format,
            str(total),
            str(len(result.new)),
            str(result.seen_again),
        )
    Console(highlight=False).print(table)


@cli.command("rank")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--interest", "interests", multiple=True, help="Interest phrase (repeatable).")
@click.option("--exclude", "excludes", multiple=True, help="Veto term (repeatable).")
@click.option("--top", type=click.IntRange(1, 1000), default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list, best first.")
@click.option("--format", "format_", type=click.Choice(FORMATS), help="Skip auto-detection.")
def rank_command(
    path: Path,
    interests: tuple[str, ...],
    excludes: tuple[str, ...],
    top: int,
    as_json: bool,
    format_: str | None,
) -> None:
    """Rank the papers of one dump for an ad-hoc profile (read-only: no store, no settings)."""
    papers = [p for snapshot in load_all([path], format_) for p in snapshot.papers]
    picks = rank(papers, [Profile(interests, excludes, top)])[0]
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
    table = Table("#", "score", "title", "why", box=None)
    for number, pick in enumerate(picks, 1):
        table.add_row(str(number), f"{pick.score:.3f}", pick.paper.title, "; ".join(pick.reasons))
    Console(highlight=False).print(table)


def _select(settings: Settings, email: str | None) -> list[Subscriber]:
    people = subscribers_from(settings)
    if email is None:
        if not people:
            raise SettingsError("no [[subscribers]] in the settings; add one to send a digest")
        return people
    chosen = [p for p in people if p.email.casefold() == email.casefold()]
    if not chosen:
        known = ", ".join(p.email for p in people) or "none"
        raise SettingsError(f"no subscriber {email!r} in the settings (known: {known})")
    return chosen


@cli.command()
@click.option("--dry-run", is_flag=True, help="Rank and render, but send and record nothing.")
@click.option("--subscriber", "email", help="Only this subscriber.")
@click.option(
    "--transport",
    type=click.Choice(["smtp", "file"]),
    default="smtp",
    show_default=True,
    help="smtp: the [smtp] relay; file: write .eml files to --outbox.",
)
@click.option("--outbox", type=click.Path(path_type=Path, file_okay=False), default=Path("outbox"))
@pass_context
def send(obj: _Context, dry_run: bool, email: str | None, transport: str, outbox: Path) -> None:
    """Send today's edition to every subscriber not yet served (safe to re-run)."""
    settings = obj.settings
    people = _select(settings, email)
    chosen: Transport
    if dry_run:
        chosen = DryRunTransport()
    elif transport == "file":
        chosen = FileTransport(outbox)
    else:
        chosen = SmtpTransport(settings.smtp)

    def report(address: str, outcome: str) -> None:
        stderr.print(f"  {outcome:>10}  {address}")

    with Store.open(settings.database) as store:
        result = send_edition(
            store,
            settings,
            chosen,
            utc_now,
            subscribers=people,
            dry_run=dry_run,
            on_message=report,
        )
    verb = "would send" if dry_run else "sent"
    click.echo(
        f"edition {result.edition_id}: {verb} {len(result.sent)}, already sent"
        f" {len(result.already_sent)}, nothing new for {len(result.empty)},"
        f" failed {len(result.failed)}"
    )
    for address, reason in result.failed:
        click.echo(f"  failed: {address}: {reason}", err=True)
    if result.failed:
        sys.exit(6)


@cli.command("preview")
@click.option("--subscriber", "email", help="Whose digest [default: the first subscriber].")
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("preview.html"),
    show_default=True,
)
@click.option("--open", "open_browser", is_flag=True, help="Open the file in a web browser.")
@pass_context
def preview_command(obj: _Context, email: str | None, out: Path, open_browser: bool) -> None:
    """Write a subscriber's next digest to an HTML file (records nothing)."""
    settings = obj.settings
    person = _select(settings, email)[0]
    with Store.open(settings.database) as store:
        message = preview(store, settings, person, utc_now)
    try:
        out.write_text(message.html, encoding="utf-8")
        out.with_suffix(".txt").write_text(message.text, encoding="utf-8")
    except OSError as exc:
        raise DigestError(f"cannot write preview to {out} ({exc.strerror})") from None
    click.echo(f"{message.subject}\nwrote {out} and {out.with_suffix('.txt')}")
    if open_browser:
        webbrowser.open(out.resolve().as_uri())


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
