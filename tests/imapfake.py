"""A hostile IMAP server over TLS on 127.0.0.1, for what no real server does: one unseen
message whose FETCH answer carries no body, or announces a literal of 300 MB (and sends 1 MB
of it, then waits for the client to hang up). It records the commands it was sent."""

from __future__ import annotations

import socketserver
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .dovecotserver import _certificate


@dataclass
class Hostile:
    port: int
    certificate: Path
    body: str  # "none": FETCH answers without a body; "huge": a 300 MB literal
    commands: list[str] = field(default_factory=list)


def _answer(server: Hostile, tag: str, command: str) -> bytes:
    """The server's answer to one command line (its tag cut off)."""
    word = command.split(" ", 1)[0].upper()
    if word == "CAPABILITY":
        return b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n" + f"{tag} OK done\r\n".encode()
    if word == "SELECT":
        return b"* 1 EXISTS\r\n* 0 RECENT\r\n" + f"{tag} OK [READ-WRITE] done\r\n".encode()
    if command.upper().startswith("UID SEARCH"):
        return b"* SEARCH 7\r\n" + f"{tag} OK done\r\n".encode()
    if command.upper().startswith("UID FETCH") and "RFC822.SIZE" in command.upper():
        return b"* 1 FETCH (UID 7 RFC822.SIZE 900)\r\n" + f"{tag} OK done\r\n".encode()
    if command.upper().startswith("UID FETCH") and server.body == "none":
        return b"* 1 FETCH (UID 7 FLAGS ())\r\n" + f"{tag} OK done\r\n".encode()
    if command.upper().startswith("UID FETCH"):
        return b"* 1 FETCH (UID 7 BODY[]<0> {314572800}\r\n" + b"x" * 2**20
    if word == "LOGOUT":
        return b"* BYE\r\n" + f"{tag} OK done\r\n".encode()
    return f"{tag} OK done\r\n".encode()


@contextmanager
def hostile_imap(root: Path, body: str) -> Iterator[Hostile]:
    """The server, its certificate written to `root` (trust it through SSL_CERT_FILE)."""
    _certificate(root)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(root / "cert.pem", root / "key.pem")
    state = Hostile(0, root / "cert.pem", body)

    class Handler(socketserver.StreamRequestHandler):
        def setup(self) -> None:
            self.request = context.wrap_socket(self.request, server_side=True)
            super().setup()

        def handle(self) -> None:
            self.wfile.write(b"* OK hostile IMAP ready\r\n")
            while line := self.rfile.readline(65536):
                tag, _, command = line.decode("ascii", "replace").strip().partition(" ")
                state.commands.append(command)
                self.wfile.write(_answer(state, tag, command))
                if command.upper().startswith("LOGOUT"):
                    return

        def finish(self) -> None:
            super().finish()
            self.request.close()  # the TLS socket made in setup(), not the one the server has

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
