#!/usr/bin/env python3
"""Set-up-and-run entry point: `python3 run.py demo` and `python3 run.py test`.

Needs nothing but Python 3.11+. It creates `.venv/`, installs the project into it (again only
when pyproject.toml changed), and then runs the demo or the whole check suite inside it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".digest-installed"
CHROMIUM = Path("/usr/bin/chromium")


def _run(*args: str | Path, env: dict[str, str] | None = None, quiet: bool = False) -> None:
    """Run a command; with quiet, show its output only if it fails (pip's build chatter)."""
    completed = subprocess.run(
        [str(a) for a in args], cwd=ROOT, env=env, check=False, capture_output=quiet, text=True
    )
    if completed.returncode != 0:
        if quiet:
            sys.stderr.write(completed.stdout + completed.stderr)
        sys.exit(completed.returncode)


def ensure_venv() -> None:
    """Create the virtualenv and install the project with its dev extras, once per pyproject."""
    if sys.version_info < (3, 11):  # noqa: UP036 - run.py itself may start on an older python3
        sys.exit(f"digest needs Python 3.11+, this is {sys.version.split()[0]}")
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    if not (BIN / "python").exists():
        print("• creating .venv", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("• installing digest and its dependencies into .venv", flush=True)
    _run(BIN / "python", "-m", "pip", "install", "-q", "--upgrade", "pip", quiet=True)
    _run(BIN / "python", "-m", "pip", "install", "-q", "-e", ".[dev]", quiet=True)
    STAMP.write_text(wanted)


def _apt_install(package: str, why: str, *more: str) -> bool:
    """apt-get install a Debian package quietly, without recommended packages (root only).
    Says in one line why it could not, and returns whether it is installed."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        print(f"• {package} is not installed (needs root and apt): {why} will be skipped")
        return False
    print(f"• installing Debian {package} for {why} (apt-get, a minute or two)", flush=True)
    quiet_env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    steps = (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package, *more],
    )
    for step in steps:
        done = subprocess.run(step, env=quiet_env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            print(f"• could not install {package} ({last}): {why} will be skipped")
            return False
    return True


def ensure_postgresql() -> None:
    """Debian's PostgreSQL server binaries for the tests that run on a real server (the test
    set-up starts its own server on a temporary folder; nothing is started here)."""
    if shutil.which("initdb") or list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        return
    _apt_install("postgresql", "the PostgreSQL tests")


def ensure_chromium() -> None:
    """Install Debian's Chromium for the browser tests (root and apt only; never a downloaded
    browser build). Where it cannot be installed, the browser tests are skipped."""
    if CHROMIUM.exists() or shutil.which("chromium"):
        return
    _apt_install("chromium", "the browser tests")


def ensure_exim() -> None:
    """Debian's Exim for the bounce tests: a real mail server that accepts a message, then
    bounces it (the test set-up starts its own on a temporary folder; nothing else runs)."""
    if shutil.which("exim4") or Path("/usr/sbin/exim4").exists():
        return
    _apt_install("exim4-daemon-light", "the bounce tests with a real mail server")


def ensure_dovecot() -> None:
    """Debian's Dovecot for the bounce-mailbox tests (IMAPS and POP3S): the test set-up starts
    its own on a temporary folder; nothing else runs."""
    if shutil.which("dovecot") or Path("/usr/sbin/dovecot").exists():
        return
    _apt_install("dovecot-imapd", "the bounce-mailbox tests", "dovecot-pop3d")


def main(argv: list[str]) -> None:
    command = argv[0] if argv else "help"
    rest = argv[1:]
    if command == "demo":
        ensure_venv()
        _run(BIN / "digest", "demo", *rest)
    elif command == "test":
        ensure_venv()
        ensure_chromium()
        ensure_postgresql()
        ensure_exim()
        ensure_dovecot()
        _run(BIN / "ruff", "check", ".")
        _run(BIN / "mypy")
        _run(BIN / "python", "-m", "pytest", *rest)
    else:
        sys.exit("usage: python3 run.py demo | test [pytest args]")


if __name__ == "__main__":
    main(sys.argv[1:])
