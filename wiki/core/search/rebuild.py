"""Build missing search indexes in a process of its own.

    python -m wiki.core.search.rebuild REPO DATA [BRANCH [URL_PREFIX [SEMANTIC_SETTINGS]]]


Web workers start this instead of building in their own memory. It logs to its stderr (the
worker's, so the server's log) in the format and level its environment names.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

log = logging.getLogger("wiki.core.search.rebuild")  # by name: this runs as __main__


def _stop(signum: int, frame) -> None:
    """SIGTERM (the index that started this closed): unwind, so unfinished generations are removed."""
    raise SystemExit(128 + signum)


def _stop_when_orphaned(parent: int) -> None:
    """The worker that started this exited without stopping it (a server shut down, a worker
    killed): stop too, as if told to, rather than build for nobody."""
    while os.getppid() == parent:
        time.sleep(1.0)
    log.info("the process that started this rebuild is gone; stopping")
    os.kill(os.getpid(), signal.SIGTERM)


def main(argv: list[str]) -> int:
    from ..gitrepo import GitRepo
    from ..pages import PageStore
    from ..wiki import make_renderer
    from .indexer import SearchIndex
    from .semantic import SemanticSettings

    if len(argv) < 2:
        log.error("usage: python -m wiki.core.search.rebuild REPO DATA [BRANCH [URL_PREFIX [SEMANTIC_SETTINGS]]]")
        return 2
    started = time.perf_counter()
    repo = GitRepo(argv[0], argv[2] if len(argv) > 2 and argv[2] else None)
    data = Path(argv[1])
    prefix = argv[3] if len(argv) > 3 else ""
    semantic = SemanticSettings.from_argument(argv[4]) if len(argv) > 4 else SemanticSettings()
    log.info("building the missing search indexes of %s", repo.path)
    SearchIndex(repo, make_renderer(data, prefix), PageStore(repo).last_changes, data, prefix, semantic).build_missing()
    log.info("search indexes of %s built in %.1f s", repo.path, time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    from ...logconfig import install

    install()
    signal.signal(signal.SIGTERM, _stop)
    threading.Thread(target=_stop_when_orphaned, args=(os.getppid(),), name="parent-watch", daemon=True).start()
    sys.exit(main(sys.argv[1:]))
