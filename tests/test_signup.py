"""Readers join by themselves (double opt-in), through the real web app (Flask's test client,
in process), a real SQLite store and the in-memory transport: the front page, the form and the
JSON API answer alike whatever the address, a confirmation link is mailed (signed, expiring,
single purpose), GET on it confirms nobody, POST confirms and mails the first edition."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from digest.deliver import MemoryTransport
from digest.diff import ingest_paths
from digest.errors import DeliveryError
from digest.settings import Settings, load_settings
from digest.store import Store
from digest.web import create_app

from .conftest import EXAMPLES, mailing, write_settings

START = dt.datetime(2026, 11, 22, 8, 0, tzinfo=dt.UTC)
NO_PROOF = "[signup]\nproof_of_work = false\n"  # the proof of work has its own tests below


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def joined(tmp_path: Path, secret_env: str, database: Path | str) -> Any:
    settings = load_settings(
        write_settings(tmp_path, database=database, subscribers="", extra=NO_PROOF)
    )
    with Store.open(settings.database) as store:
        ingest_paths(store, [EXAMPLES / "dumps"], lambda: START - dt.timedelta(hours=2))
    clock, outbox = Clock(), MemoryTransport()
    app = create_app(settings, clock, transports=lambda: [outbox])
    with mailing(app) as client:
        yield client, clock, outbox, settings


def _link(outbox: MemoryTransport) -> str:
    message = email.message_from_bytes(outbox.outbox[-1][2], policy=email.policy.default)
    body = message.get_body(("plain",))
    assert body is not None
    found = re.search(r"https://digest\.test(/confirm/\S+)", str(body.get_content()))
    assert found is not None
    return found.group(1)


def _readers(settings: Settings) -> list[str]:
    with Store.open(settings.database) as store:
        return [row.email for row in store.readers.subscriber_rows()]


def test_a_reader_signs_up_confirms_and_gets_the_first_edition(joined: Any) -> None:
    client, clock, outbox, settings = joined
    front = client.get("/")
    assert front.status_code == 200 and 'action="/subscribe"' in front.text
    assert "/preview" not in front.text and "Trending this week" in front.text
    sent = client.post(
        "/subscribe", data={"email": "New.Reader@Example.org", "interests": "graph neural networks"}
    )
    assert sent.status_code == 200 and "Check your inbox" in sent.text
    assert [to for _, to, _ in outbox.outbox] == ["New.Reader@example.org"]
    # CRLF line ends, as SMTP wants them: with bare LFs a real relay saw one endless line.
    wire = outbox.outbox[0][2]
    assert wire.count(b"\n") == wire.count(b"\r\n") and max(map(len, wire.split(b"\r\n"))) <= 78
    link = _link(outbox)
    # Asked again at once: the same page, no second mail (one per address per 10 minutes).
    assert (
        "Check your inbox"
        in client.post("/subscribe", data={"email": "new.reader@example.org"}).text
    )
    assert len(outbox.outbox) == 1
    # A link scanner's GET confirms nobody; the page shows what the button confirms.
    shown = client.get(link).text
    assert "Confirm your subscription" in shown and "About: graph neural networks." in shown
    assert client.head(link).status_code == 200
    assert _readers(settings) == []
    done = client.post(link)
    assert done.status_code == 200 and "You are subscribed" in done.text
    assert _readers(settings) == ["New.Reader@example.org"]
    assert [to for _, to, _ in outbox.outbox][1:] == ["New.Reader@example.org"]  # first edition
    first = email.message_from_bytes(outbox.outbox[1][2], policy=email.policy.default)
    assert "List-Unsubscribe" in first
    # Confirming twice changes nothing and mails nothing more; the link says it was used.
    again = client.post(link)
    assert again.status_code == 200 and "Already confirmed" in again.text
    assert 'href="/preferences/' in again.text and "Already confirmed" in client.get(link).text
    assert len(outbox.outbox) == 2
    # Signing up a confirmed address: the same page, no mail, no downgrade.
    clock.now += dt.timedelta(hours=1)
    assert (
        "Check your inbox"
        in client.post("/subscribe", data={"email": "new.reader@example.org"}).text
    )
    assert len(outbox.outbox) == 2 and _readers(settings) == ["New.Reader@example.org"]
    with Store.open(settings.database) as store:
        events = [e["event"] for e in store.signups.events("new.reader@example.org")]
    assert events[:2] == ["requested", "confirmation sent"] and "confirmed" in events


def test_a_link_expires_and_a_forged_one_is_refused(joined: Any) -> None:
    client, clock, outbox, settings = joined
    client.post("/subscribe", data={"email": "late@example.org"})
    link = _link(outbox)
    clock.now += dt.timedelta(hours=settings.signup.confirm_hours + 1)
    assert client.get(link).status_code == 410
    assert client.post(link).status_code == 410
    assert client.get(link[:-3] + "abc").status_code in (400, 403)
    assert _readers(settings) == []


def test_bots_bad_input_and_the_json_api(joined: Any) -> None:
    client, _, outbox, settings = joined
    trapped = client.post("/subscribe", data={"email": "bot@example.org", "website": "x"})
    assert trapped.status_code == 200 and "Check your inbox" in trapped.text
    bad = client.post("/subscribe", data={"email": "not an address\r\nBcc: x@y.z"})
    assert bad.status_code == 400 and "Not subscribed yet" in bad.text
    huge = client.post("/subscribe", data={"email": "a@example.org", "interests": "x" * 10_000})
    assert huge.status_code == 400
    assert outbox.outbox == []
    api = client.post("/api/subscribe", json={"email": "api@example.org", "interests": ["RL"]})
    assert api.status_code == 202 and api.json == {"status": "check your inbox"}
    assert [to for _, to, _ in outbox.outbox] == ["api@example.org"]
    assert client.post("/api/subscribe", data="nonsense").status_code == 400
    assert client.post("/api/subscribe", json={"email": 5}).status_code == 400
    assert client.get("/subscribe").status_code == 405
    assert _readers(settings) == []


def test_the_json_api_reads_deep_or_huge_json_as_a_bad_request(joined: Any) -> None:
    """60 KB of `[` was a RecursionError and a 5,000-digit number a ValueError: both 500."""
    client, _, outbox, _ = joined
    for body in (b"[" * 60_000, b'{"email": "a@example.org", "n": ' + b"9" * 5000 + b"}"):
        answer = client.post("/api/subscribe", data=body, content_type="application/json")
        assert answer.status_code == 400 and (answer.json or {})["error"].startswith("send {")
    assert outbox.outbox == []


def test_sign_ups_never_confirmed_are_forgotten_after_pending_days(joined: Any) -> None:
    from digest.editions import Editions, Runtime

    client, clock, outbox, settings = joined
    client.post("/subscribe", data={"email": "maybe@example.org"})
    later = clock.now + dt.timedelta(days=settings.signup.pending_days, hours=1)
    assert Editions(settings, runtime=Runtime(clock=lambda: clock.now)).purge_signups() == 0
    assert Editions(settings, runtime=Runtime(clock=lambda: later)).purge_signups() == 1
    clock.now = START + dt.timedelta(hours=1)  # the link itself is still young enough
    assert client.post(_link(outbox)).status_code == 409  # nothing waits for it any more
    assert _readers(settings) == []


def test_the_consent_log_is_printed_by_the_cli(joined: Any, tmp_path: Path) -> None:
    from .conftest import run

    client, _, outbox, _ = joined
    client.post(
        "/subscribe",
        data={"email": "proof@example.org"},
        environ_base={"REMOTE_ADDR": "203.0.113.77"},
    )
    client.post(_link(outbox))
    shown = run("--settings", tmp_path / "settings.toml", "subscribers", "consent",
                "proof@example.org", "--json", cwd=tmp_path)  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    events = json.loads(shown.stdout)
    assert [e["event"] for e in events] == ["requested", "confirmation sent", "confirmed"]
    assert events[0]["ip"] == "203.0.113.0"  # truncated by default
    assert len(events[0]["text_hash"]) == 64 and events[1]["message_id"].endswith("@digest.test>")
    missing = run("--settings", tmp_path / "settings.toml", "subscribers", "consent",
                  "nobody@example.org", cwd=tmp_path)  # fmt: skip
    assert missing.returncode == 7 and "no consent recorded" in missing.stderr


def test_unsubscribing_and_coming_back_are_in_the_consent_log(joined: Any) -> None:
    from digest.tokens import make_token

    client, _, outbox, settings = joined
    client.post("/subscribe", data={"email": "leaves@example.org"})
    client.post(_link(outbox))
    assert settings.secret_key is not None
    token = make_token(settings.secret_key.get_secret_value(), "leaves@example.org", "unsubscribe")
    assert client.post(f"/unsubscribe/{token}").status_code == 200
    assert client.post(f"/resubscribe/{token}").status_code == 200
    with Store.open(settings.database) as store:
        events = [e["event"] for e in store.signups.events("leaves@example.org")]
    assert events[-2:] == ["unsubscribed", "resubscribed"]


class Relay(MemoryTransport):
    """An in-memory relay that can be down: connecting to it fails, as to a stopped relay."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    def __enter__(self) -> Relay:
        if self.down:
            raise DeliveryError("cannot reach the relay 127.0.0.1:2525 (connection refused)")
        super().__enter__()
        return self


def test_a_relay_that_is_down_only_delays_the_confirmation(
    tmp_path: Path, secret_env: str, database: Path | str
) -> None:
    """Before: 503 "try again later" and nothing kept. Now the answer never depends on the
    relay: the sign-up waits in the queue, and goes out once the relay is back."""
    settings = load_settings(
        write_settings(tmp_path, database=database, subscribers="", extra=NO_PROOF)
    )
    relay, clock = Relay(), Clock()
    relay.down = True
    with mailing(create_app(settings, clock, transports=lambda: [relay])) as client:
        answer = client.post("/subscribe", data={"email": "wait@example.org"})
        assert answer.status_code == 200 and "Check your inbox" in answer.text
        assert client.post("/api/subscribe", json={"email": "later@example.org"}).status_code == 202
        assert relay.outbox == []
        with Store.open(settings.database) as store:
            assert store.signups.pending("wait@example.org")
        relay.down = False
        clock.now += dt.timedelta(minutes=1)  # the first retry is due
        client.get("/")
        assert sorted(to for _, to, _ in relay.outbox) == ["later@example.org", "wait@example.org"]
        client.get("/")
        assert len(relay.outbox) == 2  # each once


def test_status_counts_the_days_sign_ups_and_refusals(joined: Any) -> None:
    from digest.editions import Editions, Runtime

    client, clock, outbox, settings = joined
    asked = {"email": "counted@example.org", "interests": "language models"}
    client.post("/subscribe", data=asked)
    client.post("/subscribe", data=asked)  # too soon: refused
    client.post(_link(outbox))
    found = Editions(settings, runtime=Runtime(clock=lambda: clock.now)).status()
    assert found.signups == {
        "requested": 1,
        "confirmation sent": 1,
        "confirmed": 1,
        "refused": 1,
    }


def test_the_form_takes_a_time_zone_and_a_weekly_digest(joined: Any) -> None:
    client, _, outbox, settings = joined
    bad = client.post("/subscribe", data={"email": "z@example.org", "timezone": "Mars/Base"})
    assert bad.status_code == 400 and "unknown time zone" in bad.text and outbox.outbox == []
    client.post(
        "/subscribe",
        data={
            "email": "tokyo@example.org",
            "timezone": "Asia/Tokyo",
            "frequency": "weekly",
            "interests": "diffusion",
        },
    )
    client.post(_link(outbox))
    with Store.open(settings.database) as store:
        [row] = store.readers.subscriber_rows()
    assert (row.timezone, row.profile["frequency"]) == ("Asia/Tokyo", "weekly")
    # A weekly reader still gets their first edition at once, whatever their weekday.
    assert [to for _, to, _ in outbox.outbox] == ["tokyo@example.org", "tokyo@example.org"]


def _solved(client: Any) -> str:
    """Solve the site's challenge the way the form's script does (ALTCHA's format)."""
    import base64

    from altcha.v1 import solve_challenge

    given = client.get("/api/challenge")
    assert given.status_code == 200 and given.headers["Cache-Control"] == "no-store"
    task = given.json
    found = solve_challenge(task["challenge"], task["salt"], task["algorithm"], task["maxNumber"])
    assert found is not None
    answer = {**{k: task[k] for k in ("algorithm", "challenge", "salt", "signature")}}
    answer["number"] = found.number
    return base64.b64encode(json.dumps(answer).encode()).decode()


@pytest.fixture
def guarded(tmp_path: Path, secret_env: str, database: Path | str) -> Any:
    """A site that asks for a proof of work (the default)."""
    settings = load_settings(write_settings(tmp_path, database=database, subscribers=""))
    assert settings.signup.proof_of_work
    clock, outbox = Clock(), MemoryTransport()
    app = create_app(settings, clock, transports=lambda: [outbox])
    with mailing(app) as client:
        yield client, clock, outbox, settings


def test_a_sign_up_needs_a_fresh_unused_proof_of_work(guarded: Any) -> None:
    from digest.editions import Editions, Runtime

    client, clock, outbox, settings = guarded
    front = client.get("/")
    assert 'data-challenge="/api/challenge"' in front.text
    assert '<script src="/static/proof-of-work.js"' in front.text
    assert "script-src 'self'" in front.headers["Content-Security-Policy"]
    with client.get("/static/proof-of-work.js") as script:
        assert script.status_code == 200 and "crypto.subtle" in script.text
    # Without a proof, a forged one, or one solved for an expired challenge: the same page,
    # and nobody is mailed.
    proof = _solved(client)
    forged = proof[:-8] + ("A" * 8 if not proof.endswith("A" * 8) else "B" * 8)
    old = _solved(client)
    clock.now += dt.timedelta(minutes=21)
    for given in (forged, old, "not base64 at all!", "e30="):
        answer = client.post("/subscribe", data={"email": "bot@example.org", "altcha": given})
        assert answer.status_code == 200 and "Check your inbox" in answer.text
    # No proof at all (no JavaScript, a blocker): the form says so, never "check your inbox"
    # for a mail that is not sent (issue 32, item 6).
    bare = client.post("/subscribe", data={"email": "human@example.org", "altcha": ""})
    assert bare.status_code == 400 and "needs JavaScript" in bare.text
    assert "Check your inbox" not in bare.text and 'value="human@example.org"' in bare.text
    api = client.post("/api/subscribe", json={"email": "human@example.org"})
    assert api.status_code == 400 and "/api/challenge" in api.json["error"]
    assert outbox.outbox == []
    # A fresh solution works once: the same one again (a replayed form) mails nobody.
    proof = _solved(client)
    asked = {"email": "human@example.org", "interests": ["agents"], "altcha": proof}
    sent = client.post("/api/subscribe", json=asked)
    assert sent.status_code == 202
    again = client.post("/api/subscribe", json={"email": "other@example.org", "altcha": proof})
    assert again.status_code == 202
    assert [to for _, to, _ in outbox.outbox] == ["human@example.org"]
    trapped = client.post(
        "/subscribe", data={"email": "x@example.org", "website": "x", "altcha": _solved(client)}
    )
    assert trapped.status_code == 200 and len(outbox.outbox) == 1
    client.post(_link(outbox))  # an edition exists for `digest status` to report on
    found = Editions(settings, runtime=Runtime(clock=lambda: clock.now)).status()
    assert found.refused == {"honeypot": 1, "proof of work": 5}
    # Nothing of the refused requests is kept against an address.
    with Store.open(settings.database) as store:
        assert store.signups.events("bot@example.org") == []


def test_without_proof_of_work_the_page_runs_no_script(joined: Any) -> None:
    client = joined[0]
    front = client.get("/")
    assert (
        "<script" not in front.text and "script-src" not in front.headers["Content-Security-Policy"]
    )
    assert client.get("/api/challenge").status_code == 404


def test_a_challenge_made_before_a_key_rotation_still_checks() -> None:
    from digest.proof_of_work import check, new_challenge

    old, new = "old-key-0123456789abcdef", "new-key-0123456789abcdef"
    now = START
    task = new_challenge(old, now, 2_000)
    import base64

    from altcha.v1 import solve_challenge

    found = solve_challenge(task["challenge"], task["salt"], "SHA-256", 2_000)
    assert found is not None
    answer = {**task, "number": found.number}
    del answer["maxNumber"]
    payload = base64.b64encode(json.dumps(answer).encode()).decode()
    assert check(f"{new} {old}", payload, now) is not None
    assert check(new, payload, now) is None  # the old key dropped: refused


def test_without_interests_the_first_edition_waits_for_the_welcome_page(joined: Any) -> None:
    client, _, outbox, _ = joined
    client.post("/subscribe", data={"email": "blank@example.org"})
    done = client.post(_link(outbox))
    # Straight to the welcome page (issue 32, item 6), which says the subscription is on.
    assert done.status_code == 303 and done.headers["Location"].startswith("/welcome/")
    welcome = client.get(done.headers["Location"])
    assert welcome.status_code == 200 and "You are subscribed" in welcome.text
    assert "Set up your digest" in welcome.text and "on its way" not in welcome.text
    assert len(outbox.outbox) == 1  # the confirmation only: nothing to choose picks by yet
    page_url = done.headers["Location"].split("?")[0]
    saved = client.post(page_url, data={"topic": ["language models"]})
    assert saved.status_code == 200 and "Your first digest" in saved.text
    assert [to for _, to, _ in outbox.outbox] == ["blank@example.org"] * 2
    first = email.message_from_bytes(outbox.outbox[1][2], policy=email.policy.default)
    assert "language models" in str(first.get_body(("plain",)).get_content()).lower()  # type: ignore[union-attr]
    # Saving again changes the profile, and mails nothing more.
    again = client.post(page_url, data={"topic": ["graph neural networks"]})
    assert again.status_code == 200 and "Your first digest" not in again.text
    assert len(outbox.outbox) == 2


# -- issue 30: a sign-up that tells nothing, confirms what it was asked, and waits for nobody --


def _site(
    tmp_path: Path, database: Path | str, relay: MemoryTransport, extra: str = ""
) -> tuple[Any, Clock, Settings]:
    """The app over a store with the example papers, mailing through `relay` (no proof of
    work; `extra` adds to [signup] and may open further sections)."""
    settings = load_settings(
        write_settings(tmp_path, database=database, subscribers="", extra=NO_PROOF + extra)
    )
    with Store.open(settings.database) as store:
        ingest_paths(store, [EXAMPLES / "dumps"], lambda: START - dt.timedelta(hours=2))
    clock = Clock()
    return create_app(settings, clock, transports=lambda: [relay]), clock, settings


def _add_reader(settings: Settings, address: str, interests: tuple[str, ...] = ()) -> None:
    from digest.profile import ProfileInput, validated_row

    with Store.open(settings.database) as store:
        row = validated_row(ProfileInput(email=address, interests=list(interests)))
        store.readers.upsert_subscribers([row], START)


def _to(outbox: MemoryTransport) -> list[str]:
    return [to for _, to, _ in outbox.outbox]


def _rows(settings: Settings, sql: str) -> list[tuple[Any, ...]]:
    with Store.open(settings.database) as store:
        return [tuple(row) for row in store.database.execute(sql)]


def test_a_sign_up_does_the_same_work_whatever_the_address(
    tmp_path: Path, secret_env: str, database: Path | str
) -> None:
    """Before: a new address's request sent its confirmation over SMTP inside the request
    (52–98 ms) and a reader's did not (15–45 ms), with identical answers. Now the request
    writes the same rows for either and mails nothing; the worker mails after the answer."""
    outbox = MemoryTransport()
    app, _, settings = _site(tmp_path, database, outbox)
    _add_reader(settings, "known@example.org")

    def written() -> list[int]:
        counted = (
            "SELECT count(*) FROM signup_requests",
            "SELECT count(*) FROM mail_queue",
            "SELECT count(*) FROM consent_events",
            "SELECT coalesce(sum(n), 0) FROM signup_counts",
        )
        return [int(_rows(settings, sql)[0][0]) for sql in counted]

    client = app.test_client()  # the worker is not running: what the request itself does
    client.post("/subscribe", data={"email": "first@example.org"})
    assert outbox.outbox == []  # nothing is mailed inside the request
    before = written()
    new = client.post("/subscribe", data={"email": "new@example.org"})
    after_new = written()
    known = client.post("/subscribe", data={"email": "known@example.org"})
    after_known = written()
    assert new.status_code == known.status_code == 200 and new.text == known.text
    assert [b - a for a, b in zip(before, after_new, strict=True)] == [1, 1, 0, 2]  # IP and all
    assert [b - a for a, b in zip(after_new, after_known, strict=True)] == [1, 1, 0, 2]
    from digest.web import mailer

    worker = mailer(app).start()
    try:
        assert worker.flush()
    finally:
        worker.stop()
    assert _to(outbox) == ["first@example.org", "new@example.org"]  # a reader: nothing
    with Store.open(settings.database) as store:
        assert store.signups.events("known@example.org") == []
        assert not store.signups.pending("known@example.org")  # turned away: nothing kept
        assert store.signups.refusals(START) == {"already a reader": 1}


@pytest.mark.parametrize("target", ["a reader", "a stranger"])
def test_the_per_ip_cap_counts_every_attempt(tmp_path: Path, secret_env: str, target: str) -> None:
    """Before, only sign-ups that mailed a confirmation counted toward the cap: a probe between
    one's own sign-ups showed whether the target was a reader (the next own sign-up got
    through). Now every attempt counts, and the own sign-ups fare alike either way."""
    outbox = MemoryTransport()
    app, _, settings = _site(tmp_path, tmp_path / "digest.sqlite", outbox, "per_ip_hourly = 3\n")
    if target == "a reader":
        _add_reader(settings, "target@example.org")
    with mailing(app) as client:
        for address in ("own1", "target", "own2", "own3"):
            client.post("/subscribe", data={"email": f"{address}@example.org"})
    own = [to for to in _to(outbox) if to.startswith("own")]
    assert own == ["own1@example.org", "own2@example.org"]


def test_a_later_sign_up_cannot_change_what_an_earlier_link_confirms(joined: Any) -> None:
    """Before, confirming looked the sign-up up by address: a stranger's sign-up of the same
    address 11 minutes later put its interests, zone and frequency on the confirmed profile.
    Now each link confirms the profile its own sign-up asked for."""
    client, clock, outbox, settings = joined
    asked = {"email": "victim@example.org", "interests": "graph neural networks"}
    client.post("/subscribe", data={**asked, "timezone": "Europe/Berlin", "frequency": "daily"})
    victims = _link(outbox)
    clock.now += dt.timedelta(minutes=11)
    client.post(
        "/subscribe",
        data={
            "email": "victim@example.org",
            "interests": "cryptocurrency",
            "timezone": "Asia/Tokyo",
            "frequency": "weekly",
        },
        environ_base={"REMOTE_ADDR": "198.51.100.66"},
    )
    assert _to(outbox) == ["victim@example.org"] * 2  # the second link goes to the victim too
    strangers = _link(outbox)
    assert client.post(victims).status_code == 200
    with Store.open(settings.database) as store:
        [row] = store.readers.subscriber_rows()
    assert [i["phrase"] for i in row.profile["interests"]] == ["graph neural networks"]
    assert (row.timezone, row.profile["frequency"]) == ("Europe/Berlin", "daily")
    # The stranger's link, once the address is confirmed, changes nothing.
    assert "Already confirmed" in client.get(strangers).text
    assert "Already confirmed" in client.post(strangers).text
    with Store.open(settings.database) as store:
        [again] = store.readers.subscriber_rows()
    assert again.profile == row.profile and again.timezone == "Europe/Berlin"


def test_no_request_waits_for_a_running_send(tmp_path: Path, secret_env: str) -> None:
    """Before, POST /confirm and /welcome sent the first edition in the request, waiting
    without limit for the send lock: during a send they held every server thread, and a
    one-click unsubscribe took 26.7 s. Now no request touches the send lock: the first
    editions wait in the queue and go out, once each, after the send."""
    import threading

    from digest.editions import make_token, sender_lock

    outbox = MemoryTransport()
    app, clock, settings = _site(tmp_path, tmp_path / "digest.sqlite", outbox)
    _add_reader(settings, "kim@example.org")
    with mailing(app) as client:
        client.post("/subscribe", data={"email": "new@example.org", "interests": "diffusion"})
        link = _link(outbox)
        preferences = make_token(secret_env, "kim@example.org", "preferences")
        unsubscribe = make_token(secret_env, "leaves@example.org", "unsubscribe")
        answers: list[Any] = []

        def during_the_send() -> None:
            answers.append(client.post(link))
            answers.append(client.post(f"/welcome/{preferences}", data={"topic": "diffusion"}))
            answers.append(client.post(f"/unsubscribe/{unsubscribe}"))

        with Store.open(settings.database) as store, sender_lock(store) as held:
            assert held  # another send is running
            requests = threading.Thread(target=during_the_send, daemon=True)
            requests.start()
            requests.join(timeout=60)  # a bound for a hang, never a speed assertion
            assert not requests.is_alive(), "a request waited for the running send"
        assert [a.status_code for a in answers] == [200, 200, 200]
        assert "on its way" in answers[0].text and "Your first digest" in answers[1].text
        assert _to(outbox) == ["new@example.org"]  # only the confirmation so far
        clock.now += dt.timedelta(minutes=1)  # the send is over; the queue's retry is due
        client.get("/")
        client.get("/")
    assert sorted(_to(outbox)[1:]) == ["kim@example.org", "new@example.org"]  # once each


def test_confirming_while_the_relay_is_down_sends_the_first_edition_later(
    tmp_path: Path, secret_env: str, database: Path | str
) -> None:
    """Before: relay down → POST /confirm answered 500, yet the reader existed and the sign-up
    was consumed: the first edition never came, and confirming again sent nothing."""
    relay = Relay()
    app, clock, settings = _site(tmp_path, database, relay)
    with mailing(app) as client:
        client.post("/subscribe", data={"email": "new@example.org", "interests": "diffusion"})
        link = _link(relay)
        relay.down = True
        done = client.post(link)
        assert done.status_code == 200 and "on its way" in done.text
        assert _readers(settings) == ["new@example.org"] and len(relay.outbox) == 1
        assert "Already confirmed" in client.post(link).text
        relay.down = False
        clock.now += dt.timedelta(minutes=1)
        client.get("/")
        client.get("/")
    assert _to(relay) == ["new@example.org"] * 2
    first = email.message_from_bytes(relay.outbox[1][2], policy=email.policy.default)
    assert "List-Unsubscribe" in first


def test_saving_the_welcome_page_while_the_relay_is_down(tmp_path: Path, secret_env: str) -> None:
    """Before: POST /welcome answered 500 with the topics and ratings saved. Now it answers
    with everything saved, and the first edition goes out once the relay is back."""
    from digest.editions import make_token

    relay = Relay()
    app, clock, settings = _site(tmp_path, tmp_path / "digest.sqlite", relay)
    _add_reader(settings, "kim@example.org")
    url = f"/welcome/{make_token(secret_env, 'kim@example.org', 'preferences')}"
    relay.down = True
    with mailing(app) as client:
        saved = client.post(url, data={"topic": "language models"})
        assert saved.status_code == 200 and "Your first digest" in saved.text
        with Store.open(settings.database) as store:
            [row] = store.readers.subscriber_rows()
        assert [i["phrase"] for i in row.profile["interests"]] == ["language models"]
        assert relay.outbox == []
        relay.down = False
        clock.now += dt.timedelta(minutes=1)
        client.get("/")
    assert _to(relay) == ["kim@example.org"]


def test_a_welcome_page_save_that_fails_half_way_keeps_nothing(
    tmp_path: Path, secret_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, a full disk stored the library's rows and then failed on the profile. Now the
    library, the profile and the ratings are one transaction: all, or nothing."""
    import io

    from digest.editions import make_token
    from digest.errors import StoreError
    from digest.store.readers import Readers

    outbox = MemoryTransport()
    app, _, settings = _site(tmp_path, tmp_path / "digest.sqlite", outbox)
    _add_reader(settings, "kim@example.org", ("quantization",))

    def disk_full(*_: Any, **__: Any) -> None:
        raise StoreError("database digest.sqlite: database or disk is full")

    monkeypatch.setattr(Readers, "upsert_subscribers", disk_full)
    library = b"@misc{a, title={Scaling Laws for Neural Language Models}, eprint={2001.08361}}"
    with mailing(app) as client:
        answer = client.post(
            f"/welcome/{make_token(secret_env, 'kim@example.org', 'preferences')}",
            data={"topic": "language models", "library": (io.BytesIO(library), "lib.bib")},
            content_type="multipart/form-data",
        )
    assert answer.status_code == 500 and "Something went wrong" in answer.text  # nothing shown
    with Store.open(settings.database) as store:
        assert store.library.count("kim@example.org") == 0
        assert _rows(settings, "SELECT count(*) FROM mail_queue") == [(0,)]
    assert outbox.outbox == []


def test_refused_sign_ups_are_counted_per_hour_not_kept_per_request(joined: Any) -> None:
    """Before, every refused request inserted a row (2,000 in 7.7 s)."""
    client, clock, _, settings = joined
    for n in range(30):
        client.post("/subscribe", data={"email": f"bot{n}@example.org", "website": "x"})
    clock.now += dt.timedelta(hours=1)
    client.post("/subscribe", data={"email": "bot@example.org", "website": "x"})
    assert _rows(settings, "SELECT n FROM signup_refusal_counts ORDER BY hour") == [(30,), (1,)]
    with Store.open(settings.database) as store:
        assert store.signups.refusals(START) == {"honeypot": 31}


def test_outsiders_attempts_never_enter_a_readers_consent_log(joined: Any) -> None:
    """Before, every turned-away attempt appended a `refused` event, with the outsider's
    User-Agent and Referer, to the reader's consent log: never purged, in their export."""
    from digest.editions import Editions

    client, clock, outbox, settings = joined
    client.post("/subscribe", data={"email": "kept@example.org", "interests": "diffusion"})
    client.post(_link(outbox))
    with Store.open(settings.database) as store:
        before = store.signups.events("kept@example.org")
    for minutes in (1, 15, 90):
        clock.now = START + dt.timedelta(minutes=minutes)
        client.post(
            "/subscribe",
            data={"email": "kept@example.org"},
            headers={"User-Agent": "Prober/1.0", "Referer": "https://prober.example/"},
            environ_base={"REMOTE_ADDR": "198.51.100.23"},
        )
    with Store.open(settings.database) as store:
        assert store.signups.events("kept@example.org") == before
    exported, _ = Editions(settings).export_readers()
    assert "Prober" not in exported and "prober.example" not in exported


def test_a_sign_up_never_confirmed_leaves_nothing_after_the_purge(joined: Any) -> None:
    """Before, its IP, User-Agent and Referer stayed in the consent log after the purge,
    though its mail says the request "is forgotten in a few days"."""
    from digest.editions import Editions, Runtime

    client, clock, _, settings = joined
    client.post(
        "/subscribe",
        data={"email": "curious@example.org", "interests": "diffusion"},
        headers={"User-Agent": "Curious/2.0", "Referer": "https://ref.example/page"},
        environ_base={"REMOTE_ADDR": "203.0.113.9"},
    )
    later = clock.now + dt.timedelta(days=settings.signup.pending_days, hours=1)
    assert Editions(settings, runtime=Runtime(clock=lambda: later)).purge_signups() == 1
    with Store.open(settings.database) as store:
        assert store.signups.events("curious@example.org") == []
        assert not store.signups.pending("curious@example.org")
    for table in ("consent_events", "signup_requests", "mail_queue", "signup_counts"):
        for row in _rows(settings, f"SELECT * FROM {table}"):  # noqa: S608
            text = repr(row)
            assert "Curious" not in text and "ref.example" not in text and "203.0.113" not in text


PROXIED = '[web]\ntrusted_proxies = ["127.0.0.1", "::1"]\n'


def test_behind_a_trusted_proxy_each_client_has_its_own_cap(
    tmp_path: Path, secret_env: str, database: Path | str
) -> None:
    """Before, behind the README's reverse proxy every client was 127.0.0.1: ten sign-ups an
    hour for the whole site. X-Forwarded-For is read from `[web] trusted_proxies` alone, its
    right-most hop that is no trusted proxy taken as the client."""
    outbox = MemoryTransport()
    extra = "per_ip_hourly = 2\n" + PROXIED
    app, _, settings = _site(tmp_path, database, outbox, extra)
    proxy = {"REMOTE_ADDR": "127.0.0.1"}

    def via(forwarded: str, address: str, peer: dict[str, str] = proxy) -> None:
        client.post(
            "/subscribe",
            data={"email": address},
            headers={"X-Forwarded-For": forwarded},
            environ_base=peer,
        )

    with mailing(app) as client:
        for n in range(3):
            via("198.51.100.7", f"a{n}@example.org")
        via("198.51.100.8", "b@example.org")
        # A client making up a hop left of the one the proxy saw is still counted as itself.
        via("198.51.100.9, 198.51.100.7", "c@example.org")
        # From a peer that is no trusted proxy, the header is not read at all.
        via("198.51.100.7", "d@example.org", {"REMOTE_ADDR": "192.0.2.50"})
        client.post(_link(outbox))  # d's link: the consent log keeps the client's own IP
    assert _to(outbox) == ["a0@example.org", "a1@example.org", "b@example.org", "d@example.org"]
    with Store.open(settings.database) as store:
        [requested, *_] = store.signups.events("d@example.org")
    assert requested["ip"] == "192.0.2.0"


def test_the_per_ip_cap_holds_without_recording_ips(tmp_path: Path, secret_env: str) -> None:
    """Before, `record_ip = "none"` skipped the per-IP cap. Now it counts a keyed hash of the
    IP, kept only for the window; the IP itself is nowhere."""
    outbox = MemoryTransport()
    extra = 'per_ip_hourly = 2\nrecord_ip = "none"\n'
    app, _, settings = _site(tmp_path, tmp_path / "digest.sqlite", outbox, extra)
    with mailing(app) as client:
        for n in range(3):
            client.post(
                "/subscribe",
                data={"email": f"x{n}@example.org"},
                environ_base={"REMOTE_ADDR": "203.0.113.5"},
            )
        client.post(
            "/subscribe",
            data={"email": "y@example.org"},
            environ_base={"REMOTE_ADDR": "203.0.113.6"},
        )
    assert _to(outbox) == ["x0@example.org", "x1@example.org", "y@example.org"]
    for table in ("signup_counts", "signup_requests", "consent_events"):
        assert "203.0.113" not in repr(_rows(settings, f"SELECT * FROM {table}"))  # noqa: S608


def test_the_client_ip_behind_trusted_proxies() -> None:
    from digest.signup import client_ip

    trusted = ("127.0.0.1", "10.0.0.0/8", "::1")
    assert client_ip("203.0.113.1", ["198.51.100.7"], trusted) == "203.0.113.1"  # not a proxy
    assert client_ip("127.0.0.1", ["198.51.100.7"], trusted) == "198.51.100.7"
    assert client_ip("127.0.0.1", ["1.2.3.4, 198.51.100.7, 10.1.2.3"], trusted) == "198.51.100.7"
    assert client_ip("127.0.0.1", ["1.2.3.4", "198.51.100.7"], trusted) == "198.51.100.7"
    assert client_ip("::1", ["[2001:db8::7]:4711"], trusted) == "2001:db8::7"
    assert client_ip("127.0.0.1", ["10.0.0.1, 10.0.0.2"], trusted) == "10.0.0.1"  # all proxies
    assert client_ip("127.0.0.1", [], trusted) == "127.0.0.1"
    assert client_ip("127.0.0.1", ["nonsense"], trusted) == "127.0.0.1"
    assert client_ip("127.0.0.1", ["198.51.100.7"], ()) == "127.0.0.1"  # nothing trusted


def test_plus_tags_and_gmail_dots_are_one_inbox_for_the_limit(joined: Any) -> None:
    """Before, six confirmations reached one inbox in a minute through its spellings. The
    limit counts the inbox; the mail still goes where it was asked to."""
    client, clock, outbox, _ = joined
    spellings = [
        "ann.lee+news@gmail.com",
        "annlee@googlemail.com",
        "Ann.Lee+x@gmail.com",
        "a.n.n.l.e.e@gmail.com",
        "annlee+1@GMAIL.com",
    ]
    for n, address in enumerate(spellings):
        clock.now = START + dt.timedelta(seconds=10 * n)
        client.post(
            "/subscribe", data={"email": address}, environ_base={"REMOTE_ADDR": f"192.0.2.{n}"}
        )
    assert _to(outbox) == ["ann.lee+news@gmail.com"]
    from digest.addresses import limit_key

    assert {limit_key(a) for a in spellings} == {"annlee@gmail.com"}
    assert limit_key("a.b+c@example.org") == "a.b@example.org"  # dots count elsewhere
    assert limit_key("+tag@example.org") == "+tag@example.org"


def test_a_sign_up_waiting_across_the_upgrade_still_confirms(
    tmp_path: Path, secret_env: str, database: Path | str
) -> None:
    """Schema 11 on either engine: a sign-up waiting in the old table (by address) keeps its
    link working; refusals become counts; outsiders' `refused` events leave the consent log."""
    from digest.store.schema import SCHEMA_VERSION
    from digest.tokens import make_token

    outbox = MemoryTransport()
    app, _, settings = _site(tmp_path, database, outbox)
    at = START - dt.timedelta(hours=1)
    with Store.open(settings.database) as store:
        db = store.database
        with store.transaction():
            db.execute(
                "CREATE TABLE signups (email TEXT PRIMARY KEY, profile TEXT NOT NULL,"
                " requested_at TEXT NOT NULL)"
            )
            db.execute(
                "CREATE TABLE signup_refusals (id INTEGER PRIMARY KEY, at TEXT NOT NULL,"
                " reason TEXT NOT NULL)"
            )
            db.execute(
                "INSERT INTO signups VALUES (?, ?, ?)",
                (
                    "Old.Reader@example.org",
                    '{"interests": [{"phrase": "diffusion"}]}',
                    at.isoformat(),
                ),
            )
            db.executemany(
                "INSERT INTO signup_refusals VALUES (?, ?, ?)",
                [(1, at.isoformat(), "honeypot"), (2, at.isoformat(), "honeypot")],
            )
            store.signups.log("someone@example.org", "refused", at, user_agent="Prober/1.0")
            store.signups.log("Old.Reader@example.org", "requested", at, ip="192.0.2.0")
            store.signups.log("Old.Reader@example.org", "confirmation sent", at, message_id="<m>")
            db.execute("UPDATE meta SET value = '10' WHERE key = 'schema_version'")
    with Store.open(settings.database) as store:  # upgraded
        version = store.database.execute("SELECT value FROM meta WHERE key = 'schema_version'")
        assert version.fetchone()[0] == str(SCHEMA_VERSION)
        assert store.signups.refusals(at) == {"honeypot": 2}
        assert store.signups.events("someone@example.org") == []
        assert not store.database.has_table("signups")
        # Links made before the upgrade carried the address: when their expiry began.
        assert store.sealed_links_since() is not None
    token = make_token(secret_env, f"Old.Reader@example.org\n{int(at.timestamp())}", "confirm")
    with mailing(app) as client:
        assert "diffusion" in client.get(f"/confirm/{token}").text
        assert client.post(f"/confirm/{token}").status_code == 200
        # A link of the same address made at another moment (since replaced) confirms nothing.
        other = make_token(
            secret_env, f"old.reader@example.org\n{int(at.timestamp()) - 60}", "confirm"
        )
        assert client.post(f"/confirm/{other}").status_code in (200, 409)
    assert _readers(settings) == ["Old.Reader@example.org"]
    assert _to(outbox) == ["Old.Reader@example.org"]  # the first edition
    with Store.open(settings.database) as store:
        events = [e["event"] for e in store.signups.events("old.reader@example.org")]
    assert events == ["requested", "confirmation sent", "confirmed"]  # each once


def test_an_address_the_relay_refuses_for_good_is_forgotten_and_counted(joined: Any) -> None:
    from digest.deliver import PermanentFailure

    client, _, outbox, settings = joined

    def refuse(sender: str, recipient: str, data: bytes) -> None:
        raise PermanentFailure("550 5.1.1 no such user")

    outbox.send = refuse
    answer = client.post("/subscribe", data={"email": "nobody@example.org"})
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    with Store.open(settings.database) as store:
        assert not store.signups.pending("nobody@example.org")
        assert store.signups.refusals(START) == {"undeliverable": 1}
    assert _rows(settings, "SELECT count(*) FROM mail_queue") == [(0,)]
