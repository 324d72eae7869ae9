"""One address normalisation for every source: settings, CSV, CLI and the web form. An
international domain becomes punycode; a non-ASCII local part is refused with one line naming
it, and never reaches a send."""

from __future__ import annotations

from pathlib import Path

import pytest

from digest.addresses import normalise_address
from digest.profile import ProfileInput, validated_row

from .conftest import EXAMPLES, SmtpServer, assert_clean_error, run, write_settings


def test_international_domains_become_punycode_and_local_parts_must_be_ascii() -> None:
    assert normalise_address(" user@bücher.example ") == "user@xn--bcher-kva.example"
    assert normalise_address("Ada@Example.ORG") == "Ada@example.org"
    with pytest.raises(ValueError, match=r"'jörg@example\.org' has non-ASCII characters"):
        normalise_address("jörg@example.org")
    with pytest.raises(ValueError, match="not a valid address"):
        normalise_address("two@@example.org")
    # Every other source goes through the same function.
    assert validated_row(ProfileInput("user@bücher.example")).email == "user@xn--bcher-kva.example"


def _settings_with(database: Path | str, folder: Path, port: int, address: str) -> None:
    readers = f"""
[[subscribers]]
email = "ada@example.org"
interests = []

[[subscribers]]
email = "{address}"
interests = []

[[subscribers]]
email = "grace@example.org"
interests = []
"""
    write_settings(folder, database=database, port=port, subscribers=readers)


def test_a_non_ascii_local_part_in_the_settings_is_one_line_and_mails_nobody(
    database: Path | str, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    _settings_with(database, tmp_path, smtp_server.port, "jörg@example.org")
    assert_clean_error(run("ingest", EXAMPLES / "dumps", cwd=tmp_path), 2, "jörg@example.org")
    for _ in range(2):  # each run: a clear error, and nobody mailed (twice or at all)
        result = run("send", cwd=tmp_path)
        assert_clean_error(result, 2, "'jörg@example.org' has non-ASCII characters")
        assert "subscribers[1].email" in result.stderr
    assert smtp_server.handler.messages == []


def test_an_international_domain_in_the_settings_is_mailed_as_punycode(
    database: Path | str, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    _settings_with(database, tmp_path, smtp_server.port, "user@bücher.example")
    assert run("ingest", EXAMPLES / "dumps", cwd=tmp_path).returncode == 0
    for _ in range(2):  # the second run sends nothing new
        result = run("send", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    recipients = sorted(m.rcpt_tos[0] for m in smtp_server.handler.messages)
    assert recipients == ["ada@example.org", "grace@example.org", "user@xn--bcher-kva.example"]
    sent = next(m for m in smtp_server.handler.messages if "xn--" in m.rcpt_tos[0])
    assert (
        b"To: user@xn--bcher-kva.example" in sent.data
        or b"<user@xn--bcher-kva.example>" in sent.data
    )
