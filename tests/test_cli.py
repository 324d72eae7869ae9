"""End-to-end through the real `digest` command in a subprocess: exit codes, stdout, stderr."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from .conftest import EXAMPLES, SmtpServer, assert_clean_error, run, write_settings


def test_ingest_json_reports_new_and_seen_again(
    database: Path | str, tmp_path: Path, seeds: list[Path]
) -> None:
    write_settings(tmp_path, database=database)
    result = run("ingest", *seeds, "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [len(r["new"]) for r in rows] == [59, 47, 55, 114, 59]
    assert [r["seen_again"] for r in rows] == [0, 27, 10, 15, 28]
    assert rows[0]["source"] == str(seeds[0])
    assert set(rows[0]["new"][0]) >= {"id", "title"}
    again = run("ingest", seeds[2], "--json", cwd=tmp_path)
    assert json.loads(again.stdout)["new"] == []


def test_ingest_bad_inputs_fail_cleanly_and_change_nothing(
    database: Path | str, tmp_path: Path
) -> None:
    write_settings(tmp_path, database=database)
    good = EXAMPLES / "dumps" / "2026-11-20-listing.txt"
    cases = {
        "empty.txt": b"",
        "binary.bin": bytes(range(256)) * 10,
        "unknown.txt": b"hello\nworld\n",
        "latin1.txt": "Get trending papers in your email inbox!\nCaf\xe9\nx\n".encode("latin-1"),
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        result = run("ingest", good, tmp_path / name, cwd=tmp_path)
        assert_clean_error(result, 3, name)
    assert_clean_error(run("ingest", tmp_path / "missing.txt", cwd=tmp_path), 3, "no such file")
    assert not (tmp_path / "digest.sqlite").exists()  # nothing was ever opened for writing


def test_missing_and_invalid_settings(tmp_path: Path) -> None:
    assert_clean_error(run("ingest", "x.txt", cwd=tmp_path), 2, "settings.toml not found")
    (tmp_path / "bad.toml").write_text("[smtp]\nport = 'x'\n")
    result = run("--settings", tmp_path / "bad.toml", "send", cwd=tmp_path)
    assert_clean_error(result, 2, "smtp.port")
    env_result = run("send", cwd=tmp_path, env={"DIGEST_SETTINGS": str(tmp_path / "bad.toml")})
    assert_clean_error(env_result, 2, "bad.toml")


def test_rank_is_read_only_and_prints_json(tmp_path: Path, seeds: list[Path]) -> None:
    result = run(
        "rank",
        seeds[3],
        "--interest",
        "graph neural networks",
        "--interest",
        "link prediction",
        "--exclude",
        "survey",
        "--top",
        "4",
        "--json",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert len(rows) == 4
    assert set(rows[0]) == {"id", "title", "score", "reasons"}
    assert rows[0]["score"] == max(r["score"] for r in rows)  # MMR starts from the best
    assert all("survey" not in r["title"].lower() for r in rows)
    assert rows[0]["reasons"][0].startswith("matches: ")
    assert list(tmp_path.iterdir()) == []  # no store, no settings needed, nothing written


def test_send_dry_run_then_real_send_then_nothing(
    database: Path | str, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    write_settings(tmp_path, database=database, port=smtp_server.port)
    assert run("ingest", EXAMPLES / "dumps", cwd=tmp_path).returncode == 0
    dry = run("send", "--dry-run", cwd=tmp_path)
    assert dry.returncode == 0 and "would send 2" in dry.stdout
    # Per reader: how many papers, and the one they would see first.
    lines = [line for line in dry.stderr.splitlines() if "would send" in line]
    assert len(lines) == 2
    assert all(re.search(r"@example\.org · \d+ papers? · lead: \S", line) for line in lines)
    assert smtp_server.handler.messages == []
    one = run("send", "--subscriber", "grace@example.org", cwd=tmp_path)
    assert one.returncode == 0 and "sent 1" in one.stdout
    rest = run("send", cwd=tmp_path)
    assert "sent 1, already sent 1" in rest.stdout
    final = run("send", cwd=tmp_path)
    assert "sent 0, already sent 2" in final.stdout
    assert len(smtp_server.handler.messages) == 2
    unknown = run("send", "--subscriber", "nobody@example.org", cwd=tmp_path)
    assert_clean_error(unknown, 2, "nobody@example.org")


def test_send_to_a_dead_server_is_one_line(database: Path | str, tmp_path: Path) -> None:
    from digest.demo import free_port

    write_settings(tmp_path, database=database, port=free_port())
    run("ingest", EXAMPLES / "dumps", cwd=tmp_path)
    assert_clean_error(run("send", cwd=tmp_path), 6, "cannot connect to SMTP server")


def test_preview_writes_html_and_text(database: Path | str, tmp_path: Path) -> None:
    write_settings(tmp_path, database=database)
    run("ingest", EXAMPLES / "dumps", cwd=tmp_path)
    out = tmp_path / "p" / "ada.html"
    out.parent.mkdir()
    result = run("preview", "--subscriber", "ada@example.org", "--out", out, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    html = out.read_text()
    assert "Message Passing Without Over-Squashing" in html
    assert out.with_suffix(".txt").read_text().startswith("2 new papers for you")


@pytest.mark.parametrize("command", [["--help"], ["ingest", "--help"], ["--version"]])
def test_help_and_version(tmp_path: Path, command: list[str]) -> None:
    assert run(*command, cwd=tmp_path).returncode == 0


def test_file_transport_writes_eml_files(database: Path | str, tmp_path: Path) -> None:
    write_settings(tmp_path, database=database)
    run("ingest", EXAMPLES / "dumps", cwd=tmp_path)
    result = run("send", "--transport", "file", "--outbox", tmp_path / "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == ["ada@example.org.eml", "grace@example.org.eml"]
    assert (
        b"List-Unsubscribe-Post: List-Unsubscribe=One-Click"
        in (tmp_path / "out" / "ada@example.org.eml").read_bytes()
    )


def test_rank_with_liked_dump_authors_and_weights(tmp_path: Path) -> None:
    dumps = sorted((EXAMPLES / "dumps").glob("*.txt"))
    liked = tmp_path / "liked.json"
    liked.write_text(
        '[{"paper": {"title": "Rewiring message passing by curvature",'
        ' "summary": "Graph neural networks over-squash; we add edges where curvature is'
        ' negative."}}]'
    )
    result = run("rank", dumps[1], "--like-dump", liked, "--top", "1", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    [top] = json.loads(result.stdout)
    assert "Curvature" in top["title"]
    assert top["reasons"][0] == "similar to papers you liked: Rewiring message passing by curvature"
    weighted = run(
        "rank", dumps[1], "--interest", "tables^3", "--interest", "graph", "--json", cwd=tmp_path
    )
    assert "Tables" in json.loads(weighted.stdout)[0]["title"]
    bad = run("rank", dumps[1], "--interest", "graph^heavy", cwd=tmp_path)
    assert_clean_error(bad, 2, "the weight after ^ must be a number")


def test_eval_command_runs_on_a_few_days(tmp_path: Path) -> None:
    from .conftest import CORPORA, shared_or_skip

    days = sorted(shared_or_skip(CORPORA / "arxiv-daily").glob("*.jsonl"))[:8]
    folder = tmp_path / "days"
    folder.mkdir()
    for day in days:
        (folder / day.name).write_bytes(day.read_bytes())
    result = run("eval", folder, "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    scores = {row["method"]: row for row in json.loads(result.stdout)}
    assert scores["digest (keywords)"]["ndcg_at_10"] > 2 * scores["random"]["ndcg_at_10"]
    assert scores["digest (liked)"]["ndcg_at_10"] > scores["random"]["ndcg_at_10"]
    assert 0 <= scores["newest first"]["precision_at_10"] <= 1
    # What the emails show is judged too: nDCG@10 of the shown list, digest's rows only.
    assert 0 < scores["digest (keywords)"]["shown_ndcg_at_10"] <= 1
    assert scores["BM25 (bm25s)"]["shown_ndcg_at_10"] is None
    # A reader with a single phrase, beside BM25 with that phrase alone.
    assert scores["digest (one phrase)"]["profile"] == "one phrase"
    assert 0 <= scores["digest (one phrase)"]["shown_ndcg_at_10"] <= 1
    assert scores["BM25, one phrase"]["ndcg_at_10"] > scores["random"]["ndcg_at_10"]
    assert_clean_error(run("eval", tmp_path, cwd=tmp_path), 1, "needs more than")


def test_one_shot_send_dates_each_edition_in_the_readers_zone(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    """UTC+14 and UTC-11 are always on different dates (25 hours apart: one or, for an hour
    a day, two): each reader's edition carries their own, as the daemon would date it."""
    import datetime as dt
    import sqlite3
    import zoneinfo

    def local_dates(zone: str) -> set[dt.date]:
        """The zone's dates while the send ran (a day may have begun meanwhile)."""
        return {moment.astimezone(zoneinfo.ZoneInfo(zone)).date() for moment in (before, after)}

    people = "".join(
        f'\n[[subscribers]]\nemail = "{who}@example.org"\ninterests = []\ntimezone = "{zone}"\n'
        for who, zone in (("east", "Pacific/Kiritimati"), ("west", "Pacific/Pago_Pago"))
    )
    settings = write_settings(tmp_path, port=smtp_server.port, subscribers=people)
    assert run("--settings", settings, "ingest", EXAMPLES / "dumps", cwd=tmp_path).returncode == 0
    before = dt.datetime.now(dt.UTC)
    sent = run("--settings", settings, "send", cwd=tmp_path)
    after = dt.datetime.now(dt.UTC)
    assert sent.returncode == 0, sent.stderr
    assert "(Pacific/Kiritimati): sent 1" in sent.stdout
    assert "(Pacific/Pago_Pago): sent 1" in sent.stdout
    db = sqlite3.connect(tmp_path / "digest.sqlite")
    editions = dict(db.execute("SELECT email, edition_id FROM deliveries").fetchall())
    db.close()
    east = dt.date.fromisoformat(editions["east@example.org"])
    west = dt.date.fromisoformat(editions["west@example.org"])
    assert east in local_dates("Pacific/Kiritimati") and west in local_dates("Pacific/Pago_Pago")
    assert east - west in (dt.timedelta(days=1), dt.timedelta(days=2))
    again = run("--settings", settings, "send", cwd=tmp_path)
    assert again.stdout.count("sent 0, already sent 1") == 2
    assert len(smtp_server.handler.messages) == 2


@pytest.mark.parametrize(
    ("sender", "needle"),
    [
        ('from = "Digest <digest@digest.test>"\nbase_url = "http://127.0.0.1:8000"', "base_url"),
        ('from = "Digest <digest@digest.test>"\nbase_url = "http://digest.test"', "https"),
        ('from = "Digest <digest@localhost>"\nbase_url = "https://digest.test"', "[sender] from"),
    ],
)
def test_send_refuses_settings_that_would_mail_dead_links(
    database: Path | str, tmp_path: Path, smtp_server: SmtpServer, sender: str, needle: str
) -> None:
    path = write_settings(tmp_path, database=database, port=smtp_server.port)
    text = path.read_text().replace(
        'from = "Trending Papers <digest@digest.test>"\nbase_url = "https://digest.test"', sender
    )
    path.write_text(text)
    assert run("ingest", EXAMPLES / "dumps", cwd=tmp_path).returncode == 0
    assert_clean_error(run("send", cwd=tmp_path), 2, needle)
    assert smtp_server.handler.messages == []
    # A local test setup says so explicitly; a dry run or the file transport never checks.
    assert run("send", "--dry-run", cwd=tmp_path).returncode == 0
    path.write_text(text.replace("[sender]\n", "[sender]\nallow_local = true\n"))
    assert run("send", cwd=tmp_path).returncode == 0
    assert len(smtp_server.handler.messages) == 2


def test_send_refuses_a_password_in_clear_text_to_a_remote_relay(
    database: Path | str, tmp_path: Path
) -> None:
    path = write_settings(tmp_path, database=database)
    path.write_text(path.read_text().replace('host = "127.0.0.1"', 'host = "relay.example.org"'))
    secrets = {"DIGEST_SMTP__USERNAME": "digest", "DIGEST_SMTP__PASSWORD": "hunter2-secret"}
    result = run("send", cwd=tmp_path, env=secrets)
    assert_clean_error(result, 2, 'security = "starttls"')
    assert "hunter2" not in result.stderr


def test_every_exit_code_is_in_the_readme() -> None:
    from digest import errors
    from digest.errors import BadToken

    readme = (EXAMPLES.parent / "README.md").read_text()
    codes = {0, 1, 130} | {
        cls.exit_code
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.DigestError)
    }
    codes.add(BadToken.exit_code)
    for code in sorted(codes):
        assert f"\n| {code} | " in readme, code


def test_ingest_totals_skipped_files_and_untruncated_names_in_a_pipe(
    database: Path | str, tmp_path: Path
) -> None:
    write_settings(tmp_path, database=database)
    folder = tmp_path / ("a-folder-with-a-rather-long-name-" * 3)
    (folder / "older").mkdir(parents=True)
    for dump in sorted((EXAMPLES / "dumps").iterdir()):
        (folder / dump.name).write_bytes(dump.read_bytes())
    (folder / "notes.pdf").write_bytes(b"%PDF")
    result = run("ingest", folder, cwd=tmp_path)  # stdout is a pipe here, as in CI
    assert result.returncode == 0, result.stderr
    assert f"{folder}/2026-11-22-listing.txt" in result.stdout  # whole, on one line
    assert "…" not in result.stdout
    total = result.stdout.strip().splitlines()[-1].split()
    assert total[:3] == ["total:", "3", "dumps"] and total[3:] == ["17", "12", "5", "2"]
    assert "skipped 2 item(s)" in result.stderr
    assert "notes.pdf" in result.stderr and "older/" in result.stderr


def test_rank_lists_a_paper_once_and_explains_the_order(tmp_path: Path) -> None:
    result = run(
        "rank", EXAMPLES / "dumps", "--interest", "language models", "--json", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    titles = [row["title"] for row in json.loads(result.stdout)]
    assert titles and len(titles) == len(set(titles))  # the three dumps overlap


def test_unresolved_liked_papers_are_named(
    database: Path | str, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    write_settings(tmp_path, database=database, port=smtp_server.port)
    assert run("ingest", EXAMPLES / "dumps", cwd=tmp_path).returncode == 0
    added = run(
        "subscribers",
        "add",
        "lin@example.org",
        "--interest",
        "graphs",
        "--like",
        "9999.99999",
        cwd=tmp_path,
    )
    assert added.returncode == 0, added.stderr
    listed = run("subscribers", "list", "--json", cwd=tmp_path)
    [lin] = [r for r in json.loads(listed.stdout) if r["email"] == "lin@example.org"]
    assert lin["unresolved_liked"] == ["9999.99999"]
    table = run("subscribers", "list", cwd=tmp_path)
    assert "1 liked paper(s) not in the store" in table.stdout
    sent = run("send", "--dry-run", "--subscriber", "lin@example.org", cwd=tmp_path)
    assert "1 liked paper(s) of lin@example.org are not in the store" in sent.stderr
    assert "9999.99999" in sent.stderr


@pytest.mark.integration
def test_a_send_whose_output_is_closed_stops_cleanly_and_loses_nobody(tmp_path: Path) -> None:
    """`digest send | head`: the reader of the output goes away. The send stops after the
    message in flight is recorded (exit 130, as on Ctrl-C), nothing is left half-sent, and the
    next run mails exactly the rest."""
    import sqlite3
    import subprocess
    import sys

    people = "".join(
        f'\n[[subscribers]]\nemail = "r{n}@example.org"\ninterests = []\n' for n in range(6)
    )
    settings = write_settings(tmp_path, subscribers=people)
    assert run("--settings", settings, "ingest", EXAMPLES / "dumps", cwd=tmp_path).returncode == 0
    env = {**os.environ, "DIGEST_SECRET_KEY": "cli-test-secret-key-123456"}
    env.pop("DIGEST_SETTINGS", None)
    command = [sys.executable, "-m", "digest", "--settings", str(settings), "send"]
    process = subprocess.Popen(
        [*command, "--transport", "file", "--outbox", str(tmp_path / "out")],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # nobody reads any more
    process.stderr.close()
    assert process.wait(timeout=120) == 130

    def states() -> dict[str, int]:
        db = sqlite3.connect(tmp_path / "digest.sqlite")
        try:
            return dict(db.execute("SELECT state, count(*) FROM deliveries GROUP BY state"))
        finally:
            db.close()

    first = states()
    assert set(first) <= {"sent", "pending"} and sum(first.values()) == 6
    assert 1 <= first["sent"] < 6
    again = run("--settings", settings, "send", "--transport", "file", "--outbox",
                tmp_path / "out", cwd=tmp_path)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert states() == {"sent": 6}
    assert len(list((tmp_path / "out").glob("*.eml"))) == 6
