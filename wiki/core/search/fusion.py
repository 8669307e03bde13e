"""Fusing the word ranking with the semantic one: reciprocal rank fusion.

Scores of BM25F and of cosine similarity are not on one scale; their ranks are.
Each list gives a page 1 / (K + rank), the sum orders the result (Cormack, Clarke
and Büttcher, 2009; K = 60 as they found best, and as Elasticsearch and OpenSearch
use), and a page's prior (how many people wrote it) scales the sum.
"""

from __future__ import annotations

from typing import Callable, Protocol

K = 60
WINDOW = 50  # the nearest pages fused in, and at least this many word hits
MIN_SIMILARITY = 0.3  # a page less similar than this to the question is not "near" it


class Neighbours(Protocol):
    """What the semantic side offers a query: pages near it, and each page's prior."""

    def ask(self, text: str, limit: int, hidden: list[str]) -> Callable[[], list[tuple[str, float, int]]]:
        """Start looking for the pages nearest `text`, outside the hidden pages and folders; the
        call returned waits for them: (path, similarity, passage id), nearest first. Started
        before the word search, the model runs beside it."""
    def passages(self, ids: list[int]) -> dict[int, str]: ...
    def prior(self, path: str) -> float: ...


def visible(hidden: list[str]) -> Callable[[str], bool]:
    """Whether a path (a page, or a talk thread "page#id") is outside the hidden pages and folders."""
    folders = tuple(h for h in hidden if h.endswith("/"))
    pages = {h for h in hidden if not h.endswith("/")}
    return lambda path: not path.startswith(folders) and path.partition("#")[0] not in pages


def fuse(words: list[str], meaning: list[str], prior: Callable[[str], float]) -> list[tuple[str, float]]:
    """(path, fused score) of every path of both lists, once, best first."""
    score: dict[str, float] = {}
    for ranking in (words, meaning):
        for rank, path in enumerate(ranking, 1):
            score[path] = score.get(path, 0.0) + 1.0 / (K + rank)
    fused = {path: s * prior(path) for path, s in score.items()}
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))
