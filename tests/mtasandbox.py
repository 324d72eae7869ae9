"""Debian's mail servers, each run in a sandbox of its own so that they can write their own
delivery reports for the bounce corpus (tests/bounce_corpus.py) without being installed.

Debian lets one mail server be installed at a time (they all provide mail-transport-agent), and
the machine's own is Exim. So a server's package is fetched with `apt-get download` into a cache
folder and unpacked there (`dpkg-deb -x`); it then runs as root in a private mount and PID
namespace (`unshare`) in which /usr, /etc and /var are overlays: the package's files over the
machine's, every write going to a temporary folder. The users the server wants are added to
that overlay's /etc/passwd. Nothing outside the temporary folder changes, and killing the
namespace's first process ends every process inside it. Servers listen on 127.0.0.1 only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

OVERLAID = ("usr", "etc", "var")
# Inside the sandbox names resolve from /etc/hosts alone and no name server is asked: a domain
# that is not there does not exist, at once ("lookup file" says so to OpenSMTPD's resolver).
HERMETIC = """\
rm -f /etc/nsswitch.conf /etc/resolv.conf
printf 'passwd: files\\ngroup: files\\nshadow: files\\nhosts: files\\n' > /etc/nsswitch.conf
printf 'nameserver 127.0.0.1\\noptions timeout:1 attempts:1\\nlookup file\\n' > /etc/resolv.conf
"""


@dataclass(frozen=True, slots=True)
class Package:
    """One Debian package, unpacked: its name, version and the folder of its files."""

    name: str
    version: str
    root: Path


def available() -> bool:
    """Whether servers can be sandboxed here: root, apt-get, dpkg-deb and unshare."""
    tools = ("apt-get", "dpkg-deb", "unshare")
    return os.geteuid() == 0 and all(shutil.which(tool) for tool in tools)


def fetch(name: str, cache: Path) -> Package:
    """Debian's package `name`, downloaded once into `cache` and unpacked there."""
    cache.mkdir(parents=True, exist_ok=True)
    archives = sorted(cache.glob(f"{name}_*.deb"))
    for attempt in ("download", "update first") if not archives else ():
        if attempt == "update first":  # a machine whose package lists are old or missing
            subprocess.run(
                ["apt-get", "update", "-qq"], capture_output=True, check=False, timeout=600
            )
        done = subprocess.run(
            ["apt-get", "download", "-qq", name],
            cwd=cache, capture_output=True, text=True, check=False, timeout=300,
        )  # fmt: skip
        archives = sorted(cache.glob(f"{name}_*.deb"))
        if archives:
            break
    if not archives:
        raise RuntimeError(f"apt-get download {name}: {done.stderr.strip()[-300:]}")
    archive = archives[-1]
    root = cache / f"root-{archive.stem}"
    if not root.is_dir():
        partial = cache / f"partial-{archive.stem}"
        shutil.rmtree(partial, ignore_errors=True)
        subprocess.run(["dpkg-deb", "-x", str(archive), str(partial)], check=True, timeout=120)
        partial.rename(root)
    version = subprocess.run(
        ["dpkg-deb", "-f", str(archive), "Version"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.strip()  # fmt: skip
    return Package(name, version, root)


def _mounts(folder: Path, packages: tuple[Package, ...]) -> str:
    """The shell lines that lay the overlays inside the namespace."""
    lines = []
    for top in OVERLAID:
        lower = ":".join(
            [str(p.root / top) for p in packages if (p.root / top).is_dir()] + [f"/{top}"]
        )
        upper, work = folder / "overlay" / top, folder / "overlay" / f".{top}-work"
        upper.mkdir(parents=True, exist_ok=True)
        work.mkdir(parents=True, exist_ok=True)
        lines.append(
            f"mount -t overlay overlay -o lowerdir={lower},upperdir={upper},workdir={work} /{top}"
        )
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Sandbox:
    """A running sandbox: its folder (shared with the machine: the path is the same inside
    and out) and the folder its overlays wrote to (`written / "var/..."`)."""

    folder: Path
    written: Path

    def wait_for_files(self, folder: Path, count: int, seconds: float = 90.0) -> list[Path]:
        """The files in `folder` once there are `count` of them (or whatever came in time)."""
        deadline = time.monotonic() + seconds
        while True:
            found = sorted(p for p in folder.glob("*") if p.is_file()) if folder.is_dir() else []
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.1)


@contextmanager
def sandbox(folder: Path, packages: tuple[Package, ...], script: str) -> Iterator[Sandbox]:
    """Run `script` (sh, as root) in a new sandbox on `folder`, the packages' files over the
    machine's; the script starts its server and returns; the sandbox lives until the block
    ends, then every process in it is killed."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)
    (folder / "start.sh").write_text(
        f"set -e\n{_mounts(folder, packages)}\n{HERMETIC}{script}\nexec sleep 3600\n",
        encoding="utf-8",
    )
    log = (folder / "sandbox.log").open("wb")
    process = subprocess.Popen(
        ["unshare", "--mount", "--pid", "--fork", "--kill-child=SIGKILL", "--mount-proc",
         "--propagation", "private", "sh", str(folder / "start.sh")],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        yield Sandbox(folder, folder / "overlay")
    finally:
        # unshare ignores SIGTERM while it waits; killed, it kills the namespace's first
        # process (--kill-child), and with it every process of the namespace
        process.kill()
        process.wait(timeout=30)
        log.close()
