"""STARTTLS, implicit TLS and AUTH against a real aiosmtpd with a freshly made certificate."""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from digest.deliver import SmtpTransport
from digest.diff import ingest_paths
from digest.editions import send_edition
from digest.errors import DeliveryError
from digest.settings import load_settings
from digest.store import Store

from .conftest import EXAMPLES, RecordingHandler, fixed_clock, write_settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"digest", b"s3cret")
    # handled=False: aiosmtpd then answers 535 itself. With its default (handled=True) it
    # answers nothing, which is why a wrong-password test once hung until the client timeout.
    return AuthResult(success=ok, handled=False)


def _server(certificate: tuple[Path, Path], implicit: bool) -> tuple[Controller, RecordingHandler]:
    from digest.demo import free_port

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*map(str, certificate))
    handler = RecordingHandler()
    options: dict[str, Any] = {"authenticator": _authenticate, "auth_require_tls": True}
    if implicit:
        # aiosmtpd only counts STARTTLS as "TLS" for auth_require_tls; here all of it is TLS.
        options.update(ssl_context=context, auth_require_tls=False)
    else:
        options.update(tls_context=context, require_starttls=True)
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **options)
    controller.start()
    return controller, handler


@pytest.fixture(params=["starttls", "ssl"])
def tls_server(
    request: pytest.FixtureRequest, certificate: tuple[Path, Path]
) -> Iterator[tuple[str, int, RecordingHandler]]:
    controller, handler = _server(certificate, implicit=request.param == "ssl")
    try:
        yield request.param, controller.port, handler
    finally:
        controller.stop()


def _settings(
    database: Path | str, folder: Path, port: int, security: str, ca_file: Path | None
) -> Any:
    path = write_settings(folder, database=database, port=port)
    trust = f'ca_file = "{ca_file}"\n' if ca_file else ""
    path.write_text(
        path.read_text().replace('security = "none"\n', f'security = "{security}"\n{trust}')
    )
    return load_settings(path)


@pytest.mark.parametrize("password", ["s3cret", "wrong"])
def test_tls_and_auth_deliver_or_refuse_clearly(
    database: Path | str,
    tmp_path: Path,
    tls_server: tuple[str, int, RecordingHandler],
    certificate: tuple[Path, Path],
    secret_env: str,
    monkeypatch: pytest.MonkeyPatch,
    password: str,
) -> None:
    security, port, handler = tls_server
    monkeypatch.setenv("DIGEST_SMTP__USERNAME", "digest")
    monkeypatch.setenv("DIGEST_SMTP__PASSWORD", password)
    settings = _settings(database, tmp_path, port, security, certificate[0])
    with Store.open(settings.database) as store:
        ingest_paths(store, [EXAMPLES / "dumps"], fixed_clock())
        if password == "wrong":
            with pytest.raises(DeliveryError, match="refused the login; check DIGEST_SMTP__USER"):
                send_edition(store, settings, SmtpTransport(settings.smtp), fixed_clock())
            assert store.ledger.deliveries("2026-11-22") == []  # nothing planned: the relay said no
        else:
            report = send_edition(store, settings, SmtpTransport(settings.smtp), fixed_clock())
            assert sorted(report.sent) == ["ada@example.org", "grace@example.org"]
    assert len(handler.messages) == (2 if password == "s3cret" else 0)


def test_an_untrusted_certificate_is_a_clear_error(
    database: Path | str, tmp_path: Path, tls_server: tuple[str, int, RecordingHandler]
) -> None:
    security, port, _ = tls_server
    untrusted = _settings(database, tmp_path, port, security, None)
    with (
        pytest.raises(DeliveryError, match="CERTIFICATE_VERIFY_FAILED"),
        SmtpTransport(untrusted.smtp),
    ):
        pass
