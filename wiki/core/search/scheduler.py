"""The search's background work in one place, so it can all be ended together: the rebuild of
missing indexes, catch-ups after saves, and the threads that ask the meaning service.

A rebuild runs in a process of its own (`python -m wiki.core.search.rebuild`): a full build holds
tens of megabytes of text and Whoosh's pool, which a long-lived web worker would keep for good.
An index that lives only in this process (an engine handed to SearchIndex) is built in a thread.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from ...logconfig import child_environment

log = logging.getLogger(__name__)
SOON_PAUSE = 0.5  # seconds a catch-up after a save waits for more saves to come
_CHECKOUT = Path(__file__).resolve().parents[3]  # where `python -m wiki...` finds this code


class SearchScheduler:
    def __init__(self, catch_up: Callable[[], object], rebuild_command: list[str] | None,
                 build_here: Callable[[], None]) -> None:
        """`catch_up` brings every index to the head; `rebuild_command` builds what is missing in a
        process of its own, or, when None, `build_here` does in a thread of this process."""
        self._catch_up = catch_up
        self._rebuild_command = rebuild_command
        self._build_here = build_here
        self.background: threading.Thread | None = None  # the rebuild, while it runs
        self.soon_thread: threading.Thread | None = None  # the catch-up after saves, while it runs
        self._lock = threading.Lock()
        self._soon_pending = False
        self._soon_pause = float("inf")  # the shortest pause asked for since the last catch-up round
        self._pool: ThreadPoolExecutor | None = None
        self._rebuild_process: subprocess.Popen | None = None
        self._closed = False
        self._closing = threading.Event()  # cuts a catch-up's pause short

    # -- the rebuild ---------------------------------------------------------------------
    def rebuild_in_background(self) -> None:
        """Build what is missing, unless a build runs already (or this was closed)."""
        with self._lock:
            if self._closed or self.background is not None and self.background.is_alive():
                return
            target = self._run_rebuild_process if self._rebuild_command is not None else self._run_build_here
            self.background = threading.Thread(target=target, name="search-rebuild", daemon=True)
            self.background.start()

    def _run_rebuild_process(self) -> None:
        try:  # its stderr is this process's (the log); its stdout, never used, joins it there
            with self._lock:  # close() either sees the process or stops it starting
                if self._closed:
                    return
                proc = self._rebuild_process = subprocess.Popen(
                    self._rebuild_command, stdout=2, env=child_environment(), cwd=str(_CHECKOUT))
            try:
                returncode = proc.wait(timeout=3600)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise
            if returncode not in (0, -signal.SIGTERM, 128 + signal.SIGTERM):  # stopped is no failure
                log.error("search index rebuild process exited with status %s", returncode)
        except Exception:
            log.exception("search index rebuild failed")

    def _run_build_here(self) -> None:
        try:
            self._build_here()
        except Exception:
            log.exception("search index rebuild failed")

    def rebuilding(self) -> bool:
        return self.background is not None and self.background.is_alive()

    def wait_for_rebuild(self, timeout: float | None = None) -> None:
        thread = self.background
        if thread is not None:
            thread.join(timeout)

    # -- catching up after saves -------------------------------------------------------
    def catch_up_soon(self, pause: float = SOON_PAUSE) -> None:
        """After a save: bring the indexes up to date without delaying the response.

        One catch-up thread per process at a time, after a pause so a burst of saves
        costs one catch-up (the shortest pause asked for since the last round); saves
        made while it runs are picked up by its next round.
        """
        with self._lock:
            if self._closed:
                return
            self._soon_pending = True
            self._soon_pause = min(self._soon_pause, pause)
            if self.soon_thread is not None and self.soon_thread.is_alive():
                return
            self.soon_thread = threading.Thread(target=self._catch_up_rounds, name="search-catch-up", daemon=True)
            self.soon_thread.start()

    def _catch_up_rounds(self) -> None:
        while True:
            with self._lock:
                if not self._soon_pending or self._closed:
                    self.soon_thread = None
                    return
                self._soon_pending = False
                pause, self._soon_pause = self._soon_pause, float("inf")
            if self._closing.wait(pause):
                continue  # closed in the pause: the next start catches up (the index says from where)
            try:
                self._catch_up()
            except Exception:
                log.exception("search catch-up after a save failed")

    # -- asking the meaning service beside the word search ---------------------------------
    def pool(self) -> ThreadPoolExecutor | None:
        """The threads that wait for the meaning service (None once closed)."""
        with self._lock:
            if self._closed:
                return None
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="search-meaning")
            return self._pool

    # -- the end ---------------------------------------------------------------------------
    def close(self, wait: float = 30.0) -> None:
        """End the background work, so none outlives its owner (a test, a command, a worker).

        A rebuild process is stopped (its unfinished generation is removed: one goes live only
        when complete, and the next start builds again); a catch-up under way finishes (each is
        one index commit), one still in its pause is dropped (the index records the commit it
        reflects, so the next catch-up starts from there); nothing new starts afterwards.
        """
        with self._lock:
            self._closed = True
            self._closing.set()
            self._soon_pending = False
            soon, background, process, pool = self.soon_thread, self.background, self._rebuild_process, self._pool
            self._pool = None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(wait)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for thread in (background, soon):
            if thread is not None and thread is not threading.current_thread():
                thread.join(wait)
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


def rebuild_command(repo_path: Path, data_dir: Path, branch: str, url_prefix: str, semantic_argument: str) -> list[str]:
    """The command line of the rebuild process (rebuild.py) for a wiki."""
    return [sys.executable, "-m", "wiki.core.search.rebuild", str(repo_path), str(data_dir), branch, url_prefix,
            semantic_argument]
