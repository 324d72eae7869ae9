"""Servers the tests start on 127.0.0.1: wait until one answers on its port, and serve an
aiosmtpd handler on a free port for the length of a block."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiosmtpd.controller import Controller

from digest.demo import free_port


def wait_for_port(port: int, name: str, seconds: float = 30.0) -> None:
    """Return once something answers on 127.0.0.1:`port`; RuntimeError after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not listen on {port}") from None
            time.sleep(0.05)


@contextmanager
def serving(handler: Any) -> Iterator[int]:
    """An aiosmtpd server for `handler` on 127.0.0.1 and a free port (yielded)."""
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()
