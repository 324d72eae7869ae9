"""`digest daemon`: APScheduler 3 jobs, kept in the digest database itself.

Jobs:
- one send job per distinct (send time, time zone, weekdays-only) among the subscribers, a
  daily cron trigger in that zone (so DST moves the UTC time, never the local one);
- an ingest job polling `[schedule] watch` (folders and URLs) every `poll_minutes`;
- an in-memory job that re-reads the subscribers every minute, so a preferences change or an
  import gets its own send job without a restart.

Missed runs: the job store is persistent, so after downtime APScheduler sees each send job's
past run time. Within `grace_minutes` the edition goes out once (coalesced); older, it is
skipped and logged. The ledger makes any re-run harmless anyway: nobody gets an edition twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import zoneinfo
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED, JobEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from digest.clock import Clock, utc_now
from digest.editions import (
    Carrier,
    Editions,
    Hooks,
    Runtime,
    dump_files,
    edition_date,
    stop_on_signals,
)
from digest.errors import DigestError, DumpError
from digest.models import Subscriber
from digest.profile import parse_send_at
from digest.settings import Settings, load_settings

log = logging.getLogger("digest.daemon")

REFRESH_SECONDS = 60
JOB_THREADS = 10  # APScheduler's default pool


@dataclass(slots=True)
class Context:
    """What one daemon's jobs share: `stop`, set by SIGTERM/SIGINT (a running send finishes the
    message in flight, then returns); the `clock` runs are judged on; and the watched files
    already ingested (or refused as bad dumps), by (size, mtime): a file is read again only
    when it changes."""

    stop: threading.Event = field(default_factory=threading.Event)
    clock: Clock = utc_now
    seen: dict[str, tuple[int, int]] = field(default_factory=dict)


# The context of the daemon whose worker thread runs a job. The persistent job store keeps
# each job as a module function and its settings path; the state is the running daemon's, set
# in each of its worker threads as they start (so two daemons in one process share nothing).
_RUNNING: ContextVar[Context] = ContextVar("digest_daemon")


def _trigger_key(trigger: Any) -> str:
    """What makes two triggers fire alike. An IntervalTrigger's repr names its start, which
    is "now" when it is made: compared by repr, the retry job was made anew at every refresh
    (each minute), its next run pushed back each time, so that it never ran."""
    if isinstance(trigger, IntervalTrigger):
        return f"interval {trigger.interval.total_seconds()} {trigger.timezone}"
    return repr(trigger)


def _last_due(trigger: DailyTrigger, now: dt.datetime) -> dt.datetime | None:
    """The latest time `trigger` fired, or would have, within the last day before `now`."""
    last = None
    upcoming = trigger.get_next_fire_time(None, now - dt.timedelta(days=1))
    while upcoming is not None and upcoming <= now:
        last = upcoming
        upcoming = trigger.get_next_fire_time(upcoming, upcoming + dt.timedelta(seconds=1))
    return last


class DailyTrigger(CronTrigger):  # type: ignore[misc]
    """A daily cron trigger that fires at most once per local date. On the night clocks go
    back, 02:30 happens twice and a plain CronTrigger fires at both."""

    def get_next_fire_time(
        self, previous_fire_time: dt.datetime | None, now: dt.datetime
    ) -> dt.datetime | None:
        upcoming: dt.datetime | None = super().get_next_fire_time(previous_fire_time, now)
        if upcoming is None or previous_fire_time is None:
            return upcoming
        zone = self.timezone
        if upcoming.astimezone(zone).date() != previous_fire_time.astimezone(zone).date():
            return upcoming
        next_day = previous_fire_time.astimezone(zone).date() + dt.timedelta(days=1)
        midnight = dt.datetime.combine(next_day, dt.time(0), tzinfo=zone)
        # No previous fire time here: CronTrigger starts from min(now, previous) otherwise.
        later: dt.datetime | None = super().get_next_fire_time(None, midnight)
        return later


@dataclass(frozen=True, slots=True)
class SendGroup:
    """Subscribers who get their edition at the same local time in the same zone."""

    send_at: str
    timezone: str
    weekdays_only: bool

    @property
    def job_id(self) -> str:
        return f"send {self.send_at} {self.timezone}" + (" weekdays" if self.weekdays_only else "")

    def members(self, editions: Editions) -> list[Subscriber]:
        """The readers whose edition this group sends."""
        return [
            p
            for p in editions.readers_or_none()
            if SendGroup(p.send_at, p.timezone, p.weekdays_only) == self
        ]

    def trigger(self) -> DailyTrigger:
        hour, minute, second = parse_send_at(self.send_at)
        return DailyTrigger(
            hour=hour,
            minute=minute,
            second=second,
            day_of_week="mon-fri" if self.weekdays_only else "*",
            timezone=zoneinfo.ZoneInfo(self.timezone),
        )


def send_groups(editions: Editions) -> list[SendGroup]:
    groups = {SendGroup(*found) for found in editions.schedules()}
    return sorted(groups, key=lambda g: (g.timezone, g.send_at, g.weekdays_only))


# -- the jobs (module-level functions: the persistent job store refers to them by name) -------


def run_send(
    settings_path: str,
    send_at: str,
    timezone: str,
    weekdays_only: bool,
    context: Context | None = None,
) -> None:
    """Send today's edition (in the group's zone) to the group's subscribers. `context`: the
    daemon's (default: that of the daemon whose worker runs the job)."""
    group = SendGroup(send_at, timezone, weekdays_only)
    context = context or _RUNNING.get()
    try:
        settings = load_settings(Path(settings_path))
        editions = Editions(
            settings,
            runtime=Runtime(clock=context.clock),
            hooks=Hooks(
                on_wait=lambda: log.info("%s: waiting for another send to finish", group.job_id),
                should_stop=context.stop.is_set,
            ),
        )
        people = group.members(editions)
        if not people:
            log.info("%s: no subscribers any more", group.job_id)
            return
        run = editions.send(Carrier.SMTP, readers=people, retry_deferred_first=False)
    except DigestError as exc:
        log.error("%s failed: %s", group.job_id, exc)
        return
    for _, report in run.editions:
        log.info(
            "%s: edition %s planned %d, sent %d, already sent %d, nothing new %d, suppressed %d,"
            " failed %d%s",
            group.job_id,
            report.edition_id,
            report.planned,
            len(report.sent),
            len(report.already_sent),
            len(report.empty),
            len(report.suppressed),
            len(report.failed),
            " (stopped early; the next run sends the rest)" if report.stopped else "",
        )


def served(settings: Settings, group: SendGroup, due: dt.datetime) -> int | None:
    """How many of `group`'s readers already had the edition of the run due at `due` (a
    `digest send` got there first): the count when every one of them did, else None. A
    missed run that nobody needs is "already sent", not "missed"."""
    edition = edition_date(due, group.timezone).isoformat()
    editions = Editions(settings)
    try:
        people = {p.email for p in group.members(editions)}
        done = editions.done(edition)
    except DigestError:
        return None  # the store does not answer: say "missed", as before
    return len(people) if people and people <= done else None


RETRY_POLL_MINUTES = 5.0


def run_retries(settings_path: str, context: Context | None = None) -> None:
    """Send the deferred messages whose time has come (any edition), and the sign-ups' queued
    mail a web server left (it was stopped before its worker sent it)."""
    context = context or _RUNNING.get()
    try:
        settings = load_settings(Path(settings_path))
        editions = Editions(
            settings,
            runtime=Runtime(clock=context.clock),
            hooks=Hooks(should_stop=context.stop.is_set),
        )
        reports = editions.retry(Carrier.SMTP)
        editions.send_queued(Carrier.SMTP)
        if purged := editions.purge_signups():
            log.info("sign-ups: forgot %d never confirmed", purged)
    except DigestError as exc:
        log.error("retry: %s", exc)
        return
    for report in reports:
        log.info(
            "retry: edition %s sent %d, deferred again %d, failed %d",
            report.edition_id,
            len(report.sent),
            len(report.deferred),
            len(report.failed),
        )


def run_bounces(settings_path: str) -> None:
    """Read the bounce mailbox: process what is unread, warn when an edition's complaints or
    hard bounces pass their limits."""
    from digest.editions import mailbox_name

    try:
        settings = load_settings(Path(settings_path))
        done, warnings = Editions(settings).poll_bounces()
    except DigestError as exc:
        log.error("bounces: %s", exc)
        return
    acted = [d for d in done if d.action != "none"]
    aside = [d for d in done if d.kept_aside]
    if done:
        log.info(
            "bounces: %d message(s) from %s, %d acted on (%s)%s",
            len(done),
            mailbox_name(settings.bounces.mailbox),
            len(acted),
            ", ".join(f"{d.reader} {d.action}" for d in acted[:10]) or "none",
            f", {len(aside)} kept aside unread" if aside else "",
        )
    for one in aside[:10]:
        log.warning("bounces: %s kept aside, %s", one.source, one.note)
    for warning in warnings:
        log.warning("bounces: %s", warning)


def _watched(
    settings: Settings, settings_path: str, seen: dict[str, tuple[int, int]]
) -> list[tuple[str, tuple[int, int] | None]]:
    """The watched URLs, and the dump files of the watched folders that are new or changed
    since `seen`: the files `digest ingest FOLDER` reads (by suffix; a README is no dump)."""
    sources: list[tuple[str, tuple[int, int] | None]] = []
    for entry in settings.schedule.watch:
        if entry.startswith(("http://", "https://")):
            sources.append((entry, None))  # an identical download is a duplicate dump: no-op
            continue
        folder = Path(entry) if Path(entry).is_absolute() else Path(settings_path).parent / entry
        if not folder.is_dir():
            log.error("ingest: watched folder %s does not exist", folder)
            continue
        for path in dump_files(folder):
            stat = path.stat()
            if seen.get(str(path)) != (stat.st_size, stat.st_mtime_ns):
                sources.append((str(path), (stat.st_size, stat.st_mtime_ns)))
    return sources


def run_ingest(settings_path: str, context: Context | None = None) -> None:
    """Ingest what is new in the watched folders and URLs; a bad dump is logged and skipped."""
    seen = (context or _RUNNING.get()).seen
    try:
        settings = load_settings(Path(settings_path))
    except DigestError as exc:
        log.error("ingest: %s", exc)
        return
    sources = _watched(settings, settings_path, seen)
    if not sources:
        return
    editions = Editions(settings)
    for source, version in sources:  # one by one: a bad dump must not hold back the others
        try:
            [result] = editions.ingest([source])
        except DumpError as exc:
            log.error("ingest: %s", exc)
        except DigestError as exc:  # the store or the network: try again next time
            log.error("ingest: %s", exc)
            continue
        except Exception as exc:  # a bug must not stop the files after this one
            log.error("ingest: %s: refused (%s: %s)", source, type(exc).__name__, exc)
        else:
            if not result.duplicate_dump:
                log.info(
                    "ingest: %s: %d new, %d seen again",
                    source,
                    len(result.new),
                    result.seen_again,
                )
        if version is not None:
            seen[source] = version


# -- the daemon ----------------------------------------------------------------------------


def jobstore_url(database: Path | str) -> str:
    """Where the scheduler keeps its jobs: beside the papers, in the same store. Daemons on
    several hosts share a server's jobs; whichever runs a job first, the ledger's claims keep
    each reader to one message."""
    if isinstance(database, str):  # a PostgreSQL URL (settings checked it)
        return "postgresql+psycopg" + database[database.index("://") :]
    return f"sqlite:///{database.resolve()}"


class Daemon:
    """The scheduler with digest's jobs, reconciled against the subscribers."""

    def __init__(self, settings_path: Path, settings: Settings, *, clock: Clock = utc_now) -> None:
        self.settings_path = str(settings_path.resolve())
        self.settings = settings
        self.context = Context(clock=clock)
        self.scheduler = BackgroundScheduler(
            jobstores={
                # Pinged before use: a pooled connection the server dropped (a restart) is
                # replaced instead of failing the scheduler's next look at its jobs.
                "default": SQLAlchemyJobStore(
                    url=jobstore_url(settings.database),
                    engine_options={"pool_pre_ping": True},
                ),
                "memory": MemoryJobStore(),
            },
            job_defaults={
                "coalesce": True,  # after downtime: one run, never a pile-up
                "max_instances": 1,
                "misfire_grace_time": int(settings.schedule.grace_minutes * 60) or 1,
            },
            executors={
                "default": ThreadPoolExecutor(
                    JOB_THREADS,
                    pool_kwargs={"initializer": _RUNNING.set, "initargs": (self.context,)},
                )
            },
            timezone=dt.UTC,
        )
        self._groups_by_job: dict[str, SendGroup] = {}  # the send jobs' groups, by job id
        self.scheduler.add_listener(
            self._after_job, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED
        )

    def _wanted(self) -> dict[str, tuple[Callable[..., None], Any, tuple[Any, ...]]]:
        groups = send_groups(Editions(self.settings))
        self._groups_by_job = {g.job_id: g for g in groups}
        wanted: dict[str, tuple[Callable[..., None], Any, tuple[Any, ...]]] = {
            g.job_id: (
                run_send,
                g.trigger(),
                (self.settings_path, g.send_at, g.timezone, g.weekdays_only),
            )
            for g in groups
        }
        # Deferred messages (greylisting, a relay that was down) go out when their time comes.
        retry_every = min(self.settings.smtp.retry_backoff_minutes, RETRY_POLL_MINUTES)
        wanted["retry"] = (
            run_retries,
            IntervalTrigger(minutes=retry_every, timezone=dt.UTC),
            (self.settings_path,),
        )
        if self.settings.bounces.mailbox:
            wanted["bounces"] = (
                run_bounces,
                IntervalTrigger(minutes=self.settings.bounces.poll_minutes, timezone=dt.UTC),
                (self.settings_path,),
            )
        if self.settings.schedule.watch:
            wanted["ingest"] = (
                run_ingest,
                IntervalTrigger(minutes=self.settings.schedule.poll_minutes, timezone=dt.UTC),
                (self.settings_path,),
            )
        return wanted

    def reconcile(self) -> None:
        """Make the stored jobs match the subscribers. A job whose trigger and arguments are
        unchanged is left alone, so its (possibly missed) next run time survives a restart.
        The settings file is read again too: a changed default send time needs no restart."""
        try:
            self.settings = load_settings(Path(self.settings_path))
        except DigestError as exc:
            log.error("settings: %s; keeping the previous ones", exc)
        wanted = self._wanted()
        for job in self.scheduler.get_jobs(jobstore="default"):
            if job.id not in wanted:
                job.remove()
                log.info("removed job %r (no subscriber needs it)", job.id)
        for job_id, (function, trigger, args) in wanted.items():
            job = self.scheduler.get_job(job_id, jobstore="default")
            unchanged = job is not None and job.args == args
            if unchanged and _trigger_key(job.trigger) == _trigger_key(trigger):
                continue
            first = self._first_run(job_id, trigger) if function is run_send else None
            self.scheduler.add_job(
                function,
                trigger,
                args=args,
                id=job_id,
                name=job_id,
                replace_existing=True,
                **({"next_run_time": first} if first is not None else {}),
            )
            log.info("scheduled %r", job_id)

    def _first_run(self, job_id: str, trigger: DailyTrigger) -> dt.datetime | None:
        """A new send job whose time today has passed runs at once if it is at most
        grace_minutes late (a daemon started, or a reader's send time moved, just after it),
        exactly as a run missed while the daemon was down would; an older one is logged (at
        info: no run was ever due under a schedule that did not exist, so none was missed) and
        waits for its next time. None: the trigger's own next time."""
        now = self.context.clock()
        last = _last_due(trigger, now)  # the latest time this job would have fired
        if last is None:
            return None
        upcoming = trigger.get_next_fire_time(last, last + dt.timedelta(seconds=1))
        grace = self.settings.schedule.grace_minutes
        if now - last <= dt.timedelta(minutes=grace):
            log.info("%s: the run due %s is late but within grace; running it now", job_id,
                     last.isoformat())  # fmt: skip
            return now
        if self._log_already_sent(job_id, last, upcoming.isoformat() if upcoming else "none"):
            return None
        # Not a missed run: this schedule is new (the daemon's first start, a new send time),
        # and no run was ever due under it. Its time today passed before it existed.
        log.info(
            "%s: new schedule; its time today (%s) passed more than %g minutes before it was"
            " made, so it first runs %s",
            job_id,
            last.isoformat(),
            grace,
            upcoming.isoformat() if upcoming else "never",
        )
        return None

    def _after_job(self, event: JobEvent) -> None:
        if self.context.stop.is_set():
            # shutdown() holds the job store lock while it waits for this job: get_job would
            # deadlock, and there is no next run in this process anyway.
            upcoming = "after restart"
        else:
            try:
                job = self.scheduler.get_job(event.job_id)
            except Exception:  # the job store's database is away: the log line still counts
                job, upcoming = None, "unknown (the job store does not answer)"
            else:
                upcoming = job.next_run_time.isoformat() if job and job.next_run_time else "none"
        if event.code == EVENT_JOB_MISSED:
            due = event.scheduled_run_time
            if not self._log_already_sent(event.job_id, due, upcoming):
                log.warning(
                    "%s: the run due %s was missed by more than %g minutes; skipped (next: %s)",
                    event.job_id,
                    due.isoformat(),
                    self.settings.schedule.grace_minutes,
                    upcoming,
                )
        elif event.code == EVENT_JOB_ERROR:
            log.error("%s crashed: %r (next: %s)", event.job_id, event.exception, upcoming)
        elif event.job_id not in ("refresh", "resume"):
            log.info("%s done; next run %s", event.job_id, upcoming)

    def _log_already_sent(self, job_id: str, due: dt.datetime, upcoming: str) -> bool:
        """For a send run skipped as late: if its readers already had that edition, say so
        (at info: nothing was lost) and return True."""
        group = self._groups_by_job.get(job_id)
        count = None if group is None else served(self.settings, group, due)
        if count is None:
            return False
        log.info(
            "%s: the run due %s is not needed: its edition already went out to all %d of its"
            " readers (next: %s)",
            job_id,
            due.isoformat(),
            count,
            upcoming,
        )
        return True

    def resume_interrupted(self) -> None:
        """Finish an edition whose send was cut short: the daemon was killed or crashed, or the
        database went away for longer than a sender waits for it. APScheduler counts that run
        as done, so its misfire handling would not retry it and those readers would be skipped
        for the day. Runs before anything else at start, then as often as deferred messages
        are retried: a send that failed on a lost database is finished once the server is
        back, without a restart. A send in progress (this daemon's, or another sender's) is
        left to itself; a send missed entirely while the daemon was down is APScheduler's to
        run (misfire)."""
        now = self.context.clock()
        editions = Editions(self.settings, runtime=Runtime(clock=lambda: now))
        owed: dict[SendGroup, dt.datetime] = {}
        for group in send_groups(editions):
            due = _last_due(group.trigger(), now)
            job = self.scheduler.get_job(group.job_id, jobstore="default")
            already_ran = job is not None and job.next_run_time and job.next_run_time > now
            if due is None or not already_ran:
                continue
            if editions.cut_short(edition_date(due, group.timezone).isoformat()):
                owed[group] = due
        for group, due in owed.items():
            log.info("%s: the run due %s was cut short; sending the rest", group.job_id,
                     due.isoformat())  # fmt: skip
            run_send(
                self.settings_path,
                group.send_at,
                group.timezone,
                group.weekdays_only,
                self.context,
            )

    def _resume_quietly(self) -> None:
        """resume_interrupted as a job: a store that cannot be opened now is tried next time."""
        try:
            self.resume_interrupted()
        except DigestError as exc:
            log.error("resume: %s", exc)

    def run(self) -> None:
        """Run until SIGTERM/SIGINT; then let the send in flight finish and exit."""
        stop = self.context.stop
        stop_on_signals(stop, lambda said: log.info("%s, then exiting", said))
        # Daemons on several hosts share a server's job table: one creates it at a time.
        with Editions(self.settings).exclusive("scheduler"):
            self.scheduler.start(paused=True)
        if self.settings.schedule.watch:
            run_ingest(self.settings_path, self.context)  # what arrived while down, first
        else:
            log.warning(
                "nothing to watch: [schedule] watch is empty, so no dumps are ingested; editions"
                " go out from what `digest ingest` stores (add folders or URLs to watch)"
            )
        self.reconcile()
        self.resume_interrupted()
        # The resume looks as often as deferred messages are looked for: both are work a send
        # left unfinished.
        resume_every = 60 * min(self.settings.smtp.retry_backoff_minutes, RETRY_POLL_MINUTES)
        for job_id, function, seconds in (
            ("refresh", self.reconcile, REFRESH_SECONDS),
            ("resume", self._resume_quietly, resume_every),
        ):
            self.scheduler.add_job(
                function,
                IntervalTrigger(seconds=seconds, timezone=dt.UTC),
                id=job_id,
                jobstore="memory",
                replace_existing=True,
            )
        self.scheduler.resume()
        for job in self.scheduler.get_jobs(jobstore="default"):
            when = job.next_run_time.isoformat() if job.next_run_time else "paused"
            log.info("job %r: next run %s", job.id, when)
        stop.wait()
        self.scheduler.shutdown(wait=True)
        log.info("stopped")


def run_daemon(settings_path: Path) -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # digest logs each run with its outcome and next run time; the executor's own
    # "Running job"/"executed successfully" lines would only repeat that.
    logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)
    settings = load_settings(settings_path)
    Editions(settings).check_ready()  # a clear error now for broken mail or an unusable store
    Daemon(settings_path, settings).run()
