"""A real IMAP and POP3 server for the bounce-mailbox tests: Debian's Dovecot, started on a
temporary folder with its own TLS certificate (trusted through SSL_CERT_FILE) on two free
ports of 127.0.0.1, one mailbox whose password the test knows."""

from __future__ import annotations

import datetime as dt
import os
import pwd
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .localnet import wait_for_port

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
PASSWORD = "bounce-mailbox-password"

CONFIG = """\
base_dir = {root}/run
log_path = {root}/dovecot.log
protocols = imap pop3
listen = 127.0.0.1
ssl = required
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
mail_location = maildir:{root}/mail/Maildir
auth_mechanisms = plain
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={root}/mail
}}
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    port = {imaps}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
  inet_listener pop3s {{
    port = {pop3s}
    ssl = yes
  }}
}}
"""


@dataclass(frozen=True, slots=True)
class DovecotServer:
    imaps: int
    pop3s: int
    maildir: Path  # the mailbox both protocols serve
    certificate: Path


def available() -> bool:
    return Path(DOVECOT).exists()


def _certificate(root: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    (root / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (root / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )


@contextmanager
def running_dovecot(root: Path, imaps: int, pop3s: int) -> Iterator[DovecotServer]:
    """Dovecot on `root` and these ports, stopped afterwards."""
    nobody = pwd.getpwnam("nobody")
    for folder in ("run", "mail"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)  # the mail user must reach its folder inside
    os.chown(root / "mail", nobody.pw_uid, nobody.pw_gid)
    _certificate(root)
    config = root / "dovecot.conf"
    config.write_text(
        CONFIG.format(root=root, password=PASSWORD, imaps=imaps, pop3s=pop3s), encoding="utf-8"
    )
    # Dovecot goes to the background by itself; its output must not hold a pipe open.
    subprocess.run(
        [DOVECOT, "-c", str(config)],
        check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, timeout=30,
    )  # fmt: skip
    try:
        wait_for_port(imaps, "dovecot")
        wait_for_port(pop3s, "dovecot")
        yield DovecotServer(imaps, pop3s, root / "mail" / "Maildir", root / "cert.pem")
    finally:
        subprocess.run(
            [DOVECOT, "-c", str(config), "stop"],
            check=False, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, timeout=30,
        )  # fmt: skip
