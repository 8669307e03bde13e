"""Cross-process locks on files: the kernel releases them when a process dies, so none goes stale."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def file_lock(path: str | os.PathLike, wait: bool | float = True) -> Iterator[bool]:
    """An exclusive flock on `path`; yields whether it was taken.

    wait True blocks until it is; a number waits at most that many seconds
    (then yields False and the caller goes on without it).
    """
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = None if wait is True else time.monotonic() + float(wait or 0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if deadline is None else fcntl.LOCK_NB))
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    yield False
                    return
                time.sleep(0.02)
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
