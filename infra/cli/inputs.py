"""What the command line reads: the input named by a command, and its usage errors."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO


class UsageError(Exception):
    """Bad arguments or input named on the command line; printed without a traceback."""


@contextmanager
def open_input(source: str) -> Iterator[BinaryIO]:
    if source == "-":
        yield sys.stdin.buffer
        return
    try:
        stream = open(source, "rb")  # noqa: SIM115
    except OSError as error:
        raise UsageError(f"cannot read {source}: {error.strerror}") from None
    with stream:
        yield stream
