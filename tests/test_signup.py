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
    # A link scanner's GET confirms nobody.
    assert "Confirm your subscription" in client.get(link).text
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
    for given in ("", forged, old, "not base64 at all!", "e30="):
        answer = client.post("/subscribe", data={"email": "bot@example.org", "altcha": given})
        assert answer.status_code == 200 and "Check your inbox" in answer.text
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
    assert found.refused == {"honeypot": 1, "proof of work": 6}
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
    assert "Tell us what you read" in done.text and "on its way" not in done.text
    assert len(outbox.outbox) == 1  # the confirmation only: nothing to choose picks by yet
    found = re.search(r'href="(/welcome/[^"]+)"', done.text)
    assert found is not None
    saved = client.post(found.group(1), data={"topic": ["language models"]})
    assert saved.status_code == 200 and "Your first digest" in saved.text
    assert [to for _, to, _ in outbox.outbox] == ["blank@example.org"] * 2
    first = email.message_from_bytes(outbox.outbox[1][2], policy=email.policy.default)
    assert "language models" in str(first.get_body(("plain",)).get_content()).lower()  # type: ignore[union-attr]
    # Saving again changes the profile, and mails nothing more.
    again = client.post(found.group(1), data={"topic": ["graph neural networks"]})
    assert again.status_code == 200 and "Your first digest" not in again.text
    assert len(outbox.outbox) == 2
