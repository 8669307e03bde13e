"""Build missing search indexes in a process of its own.

    python -m wiki.core.search.rebuild REPO DATA [BRANCH [URL_PREFIX]]


Web workers start this instead of building in their own memory.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    from ..gitrepo import GitRepo
    from ..pages import PageStore
    from ..wiki import make_renderer
    from .indexer import SearchIndex

    if len(argv) < 2:
        print("usage: python -m wiki.core.search.rebuild REPO DATA [BRANCH [URL_PREFIX]]", file=sys.stderr)
        return 2
    repo = GitRepo(argv[0], argv[2] if len(argv) > 2 and argv[2] else None)
    data = Path(argv[1])
    prefix = argv[3] if len(argv) > 3 else ""
    SearchIndex(repo, make_renderer(data, prefix), PageStore(repo).last_changes, data, prefix).build_missing()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
