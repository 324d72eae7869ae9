"""One generic hostile set fed to every command that reads input (the web routes get theirs in
test_hostile_web.py): deeply nested JSON, numbers of thousands of digits, bytes that are no
text, devices, FIFOs and folders where files are expected, odd words for every option. Whatever
the input, never a traceback or a hang: one line on stderr and a documented exit code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import EXAMPLES, TEST_SECRET, Ran, run, write_settings

DEEP = "[" * 60_000
HUGE = "9" * 5_000


def _hostile_files(folder: Path) -> dict[str, Path]:
    """Files a command may be handed: JSON too deep or with a huge number, bytes that are no
    text, an empty file, a folder of them, a FIFO and devices."""
    folder.mkdir()
    made = {
        "deep.json": DEEP,
        "huge.json": '{"papers": [{"id": ' + HUGE + "}]}",
        "deep.jsonl": '{"id": ' + "[" * 5000 + "\n",
        "deep.bib": "@article{a, title={" + "{" * 5000 + "}}",
        "deep.csl.json": '[{"title": ' + "[" * 5000 + "}]",
        "huge.csv": "email,interests\n" + "a@b," + HUGE + "\n",
        "binary.eml": "\x00\xff\xfe" * 1000,
        "empty.txt": "",
    }
    paths = {name: folder / name for name in made}
    for name, text in made.items():
        paths[name].write_bytes(text.encode("latin-1", "replace"))
    fifo = folder / "fifo"
    os.mkfifo(fifo)
    paths["fifo"] = fifo
    paths["folder"] = folder
    paths["/dev/zero"] = Path("/dev/zero")
    paths["/proc/self/mem"] = Path("/proc/self/mem")
    return paths


# (command words before the path, a path key → each path) for every command that reads one.
PATH_COMMANDS: list[tuple[str, ...]] = [
    ("ingest",),
    ("rank", "{}", "--interest", "x"),
    ("bounces", "process", "--dry-run"),
    ("subscribers", "import"),
    ("subscribers", "import-library", "ada@example.org"),
]


def _words(command: tuple[str, ...], path: Path) -> list[str]:
    if "{}" in command:
        return [str(path) if w == "{}" else w for w in command]
    return [*command, str(path)]


# Paths a process must be handed (reading them in this process could hang or fill memory).
SPECIAL = ("fifo", "/dev/zero", "/proc/self/mem")


def _outcome(
    command: tuple[str, ...], name: str, done: Ran | subprocess.CompletedProcess[str]
) -> str:
    """What is wrong with how a command took a hostile path ("" for nothing)."""
    lines = done.stderr.strip().splitlines()
    said = f"{' '.join(command)} {name}: exit {done.returncode} {lines[-3:]}"
    if "Traceback" in done.stderr or done.returncode not in OK_EXITS:
        return said
    if done.returncode != 0 and not _one_line_error(lines):
        return said
    return ""


def _one_line_error(lines: list[str]) -> bool:
    """digest's own one line, or click's usage error (which ends in one `Error:` line)."""
    if len(lines) == 1:
        return lines[0].startswith("digest: error: ")
    return bool(lines) and lines[-1].startswith("Error: ")


# The README's exit codes: 1 any other DigestError, 2 settings and usage, 3 dumps, 4 store,
# 7 readers, 8 libraries, 9 bounces.
OK_EXITS = (0, 1, 2, 3, 4, 7, 8, 9)


@pytest.mark.integration
def test_no_command_gives_a_traceback_or_hangs_on_a_hostile_path(tmp_path: Path) -> None:
    settings = write_settings(tmp_path, database=tmp_path / "digest.sqlite")
    assert run("--settings", settings, "ingest", EXAMPLES / "dumps", cwd=tmp_path).returncode == 0
    paths = _hostile_files(tmp_path / "hostile")
    problems: list[str] = []
    for command in PATH_COMMANDS:
        for name, path in paths.items():
            words = ["--settings", str(settings), *_words(command, path)]
            if name not in SPECIAL:
                problems.append(_outcome(command, name, run(*words, cwd=tmp_path)))
                continue
            try:
                done = subprocess.run(
                    [sys.executable, "-m", "digest", *words],
                    cwd=tmp_path,
                    env={**os.environ, "DIGEST_SECRET_KEY": TEST_SECRET},
                    capture_output=True,
                    text=True,
                    timeout=30,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                problems.append(f"{' '.join(command)} {name}: still reading after 30 s")
                continue
            problems.append(_outcome(command, name, done))
    assert not any(problems), "\n".join(p for p in problems if p)


@pytest.mark.parametrize(
    "args",
    [
        ("history", "--limit", HUGE),
        ("changes", HUGE),
        ("feedback", "é@x", HUGE, "--more"),
        ("subscribers", "add", "a@b.c", "--interest", "[" * 5000),
        ("subscribers", "add", "a@b.c", "--send-at", "99:99"),
        ("subscribers", "consent", "\x00@x", "--json"),
        ("send", "--date", HUGE, "--dry-run"),
        ("preview", "--subscriber", "é" * 3000),
        ("status", HUGE),
    ],
)
def test_no_command_gives_a_traceback_on_hostile_words(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    settings = write_settings(tmp_path, database=tmp_path / "digest.sqlite")
    done = run("--settings", settings, *args, cwd=tmp_path)
    assert not _outcome(args, "", done), done.stderr[-2000:]


def test_hostile_bodies_are_what_they_claim() -> None:
    """The set itself: the deep body really is deeper than any parser's stack."""
    with pytest.raises(RecursionError):
        json.loads(DEEP)
