"""A real mail server for the bounce tests: Debian's Exim, started on a temporary folder and a
free port of 127.0.0.1. It accepts mail for example.org, delivers ada@ and grace@ (whose
mailbox is full) and bounces everyone else, the way an MTA does after it said yes: a delivery
report written by Exim, mailed to the message's envelope sender, which for digest.test lands in
a Maildir the test reads."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .localnet import wait_for_port

EXIM = shutil.which("exim4") or "/usr/sbin/exim4"
USER = "Debian-exim"

CONFIG = """\
primary_hostname = mx.example.test
domainlist local_domains = example.org : digest.test
daemon_smtp_ports = {port}
local_interfaces = 127.0.0.1
spool_directory = {root}/spool
log_file_path = {root}/log/%slog
exim_user = {user}
exim_group = {user}
never_users = root
host_lookup =
acl_smtp_rcpt = acl_rcpt
begin acl
acl_rcpt:
  accept domains = +local_domains
  deny message = relay not permitted
begin routers
returns:
  driver = accept
  domains = digest.test
  transport = to_bounces
full:
  driver = accept
  domains = example.org
  local_parts = grace
  transport = to_full
readers:
  driver = accept
  domains = example.org
  local_parts = ada
  transport = to_inbox
begin transports
to_bounces:
  driver = appendfile
  directory = {root}/Bounces
  maildir_format
  user = {user}
  envelope_to_add
  return_path_add
to_inbox:
  driver = appendfile
  directory = {root}/Inbox
  maildir_format
  user = {user}
to_full:
  driver = appendfile
  directory = {root}/Full
  maildir_format
  user = {user}
  quota = 10
begin retry
*   quota
*   *   F,1m,10s
"""


@dataclass(frozen=True, slots=True)
class EximServer:
    host: str
    port: int
    bounces: Path  # the Maildir that bounces to digest.test land in
    inbox: Path

    def wait_for_bounces(self, count: int, seconds: float = 60.0) -> list[Path]:
        """The bounce files once `count` arrived (Exim delivers them right after accepting)."""
        deadline = time.monotonic() + seconds
        while True:
            found = sorted((self.bounces / "new").glob("*"))
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)


def available() -> bool:
    return Path(EXIM).exists()


@contextmanager
def running_exim(root: Path, port: int) -> Iterator[EximServer]:
    """Exim on `root` (a folder of its own) and `port`, stopped and cleaned afterwards."""
    user = pwd.getpwnam(USER)
    for folder in ("spool", "log", "Bounces", "Inbox", "Full"):
        (root / folder).mkdir(parents=True, exist_ok=True)
        os.chown(root / folder, user.pw_uid, user.pw_gid)
    root.chmod(0o755)  # the Exim user must reach its folders inside
    config = root / "exim.conf"
    config.write_text(CONFIG.format(port=port, root=root, user=USER), encoding="utf-8")
    config.chmod(0o644)
    pid_file = root / "exim.pid"
    subprocess.run(
        [EXIM, "-C", str(config), "-bd", "-q5s", "-oX", str(port), "-oP", str(pid_file)],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    try:
        wait_for_port(port, "exim")  # ready when it answers on its port
        yield EximServer("127.0.0.1", port, root / "Bounces", root / "Inbox")
    finally:
        if pid_file.exists():
            subprocess.run(["kill", pid_file.read_text().strip()], check=False)
