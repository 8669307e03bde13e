"""Ranking: from an engine's word matches and the pages nearest in meaning to the results shown.

The engine scores by words (BM25F for Whoosh); this module decides, for any engine:
- pages missing one word of a question follow the few that hold them all;
- a question in several plain words is fused with the meaning ranking by reciprocal rank
  (Cormack, Clarke and Büttcher, 2009; K = 60 as they found best, and as Elasticsearch and
  OpenSearch use); a page's prior (how many people wrote it) scales the sum, since scores of
  BM25F and of cosine similarity are not on one scale but their ranks are;
- the page titled exactly as the question comes first;
- a "did you mean" correction when the words found nothing;
- the filter chips (facets) from the best hits.
"""

from __future__ import annotations

import html
import re
from dataclasses import replace
from typing import Callable, Protocol

from .engine import Candidate, Hit, Results, SearchEngine

K = 60
WINDOW = 50  # the nearest pages fused in, and at least this many word hits
MIN_SIMILARITY = 0.3  # a page less similar than this to the question is not "near" it
FACET_HITS = 100  # the chips count the folders, tags and authors of this many best hits
FEW = 10  # fewer pages than this hold every word: pages missing one word follow them
SUGGEST_BELOW = 5  # fewer pages than this found by the words: look for a likelier spelling
_PLAIN = re.compile(r"[\w\s.'-]+")
_OPERATORS = ("OR", "AND", "NOT")
# Words not marked in a passage found by meaning (Whoosh's English stop words).
_STOP_WORDS = frozenset((
    "a", "an", "and", "are", "as", "at", "be", "by", "can", "for", "from", "have", "if", "in", "is", "it",
    "may", "not", "of", "on", "or", "tbd", "that", "the", "this", "to", "us", "we", "when", "will", "with",
    "yet", "you", "your"))


class Neighbours(Protocol):
    """What the semantic side offers a query: pages near it, and each page's prior."""

    def ask(self, text: str, limit: int, hidden: list[str]) -> Callable[[], list[tuple[str, float, int]]]:
        """Start looking for the pages nearest `text`, outside the hidden pages and folders; the
        call returned waits for them: (path, similarity, passage id), nearest first. Started
        before the word search, the model runs beside it."""
    def passages(self, ids: list[int]) -> dict[int, str]: ...
    def prior(self, path: str) -> float: ...


def fuse(words: list[str], meaning: list[str], prior: Callable[[str], float]) -> list[tuple[str, float]]:
    """(path, fused score) of every path of both lists, once, best first."""
    score: dict[str, float] = {}
    for ranking in (words, meaning):
        for rank, path in enumerate(ranking, 1):
            score[path] = score.get(path, 0.0) + 1.0 / (K + rank)
    fused = {path: s * prior(path) for path, s in score.items()}
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))


def question_in_words(text: str) -> list[str]:
    """The words of a question asked in several plain words, which is also asked by meaning;
    [] for one word, or a query using the query language (fields, filters, operators, quotes):
    that asks for exactly what it says."""
    text = text.strip()
    if ":" in text or not _PLAIN.fullmatch(text):
        return []
    words = text.split()
    if len(words) < 2 or any(w in _OPERATORS or w[0] in "-+" for w in words):
        return []
    return words


class _Near:
    """A page found by meaning only: listed from the engine, with the passage that matched."""

    def __init__(self, key: str, passage_id: int) -> None:
        self.key, self.passage_id = key, passage_id


def rank(engine: SearchEngine, text: str, offset: int, limit: int, hidden: list[str], history: bool,
         related: Neighbours | None = None) -> Results:
    """The results shown for a query: `related`, when given, adds the meaning ranking to a
    question in plain words."""
    words = question_in_words(text) if related is not None and not history else []
    fusing = bool(words)
    nearest = related.ask(text.strip(), WINDOW, hidden) if fusing else None  # the model runs beside the words
    found = engine.query(text, 0, max(offset + limit, FACET_HITS, WINDOW if fusing else 0), hidden, history)
    if found.error or found.reindexing or found.filtered_out:
        return Results(0, [], error=found.error, reindexing=found.reindexing)
    fusing = fusing and found.index == "pages"
    hits: list[Candidate | _Near] = list(found.hits)
    total = found.total
    if total < FEW and found.partial is not None:
        # Few pages hold every word (a person's question rarely uses the page's exact words):
        # after them come pages missing one word, never above a page that has them all.
        seen = {h.key for h in found.hits}
        more = [c for c in found.partial(max(offset + limit, WINDOW if fusing else 0)) if c.key not in seen]
        hits += more
        total += len(more)
    words_total = total
    score = {id(h): h.score for h in hits if isinstance(h, Candidate)}
    if fusing:
        hits, added, score = _fused(hits, nearest(), related.prior)
        total += added
    exact = found.exact if offset == 0 else None
    if exact is not None:  # the page titled exactly as the question comes first
        listed = len(hits)
        hits = [h for h in hits if h.key != exact.key]
        total += 1 if len(hits) == listed else 0  # not among the hits: one more
    out = _shown(engine, hits[offset:offset + limit], score, related, words)
    if exact is not None:
        out.insert(0, exact.show(float("inf")))
        out = out[:limit]
    result = Results(total, out, facets=facets([h for h in hits if isinstance(h, Candidate)]))
    if words_total < SUGGEST_BELOW and found.index == "pages":  # few or none: the words may be misspelt
        result.suggestion = engine.suggest(text)
        if result.suggestion and total and \
                engine.query(result.suggestion, 0, 1, hidden, False).total <= words_total:
            result.suggestion = None  # a correction is worth offering only if it finds more pages
    return result


def _fused(hits: list, near: list[tuple[str, float, int]], prior: Callable[[str], float]) -> tuple[list, int, dict]:
    """The word hits and the pages nearest in meaning, in fused order; how many were added; the
    fused score of each (by id)."""
    near = [n for n in near if n[1] >= MIN_SIMILARITY]
    if not near:
        return hits, 0, {id(h): h.score for h in hits}
    by_key = {h.key: h for h in hits}
    passage = {path: pid for path, _, pid in near}
    fused, added, score = [], 0, {}
    for key, value in fuse([h.key for h in hits], [n[0] for n in near], prior):
        hit = by_key.get(key)
        if hit is None:
            hit = _Near(key, passage[key])
            added += 1
        score[id(hit)] = value
        fused.append(hit)
    return fused, added, score


def _shown(engine: SearchEngine, shown: list, score: dict[int, float], related: Neighbours | None,
           words: list[str]) -> list[Hit]:
    """The hits to show; pages found by meaning are read from the engine (those gone from it are dropped)."""
    near = [h for h in shown if isinstance(h, _Near)]
    texts = related.passages([h.passage_id for h in near]) if near and related is not None else {}
    marked = {w for w in re.findall(r"\w+", " ".join(words).casefold()) if len(w) > 2 and w not in _STOP_WORDS}
    out = []
    for h in shown:
        if isinstance(h, Candidate):
            out.append(h.show(score[id(h)]))
            continue
        page = engine.page(h.key)
        if page is None:  # deleted; the semantic index follows soon
            continue
        passage = texts.get(h.passage_id, "")
        # the passage without the title it was embedded with (a title alone: the page's start)
        title = page.title
        passage = passage[len(title) + 2:] if title and passage.startswith(title + ": ") else \
            ("" if passage == title else passage)
        out.append(replace(page, snippet_html=mark(passage, marked) or page.snippet_html, score=score[id(h)]))
    return out


def mark(text: str, words: set[str]) -> str:
    """The text as HTML with the given (casefolded) words marked."""
    parts = re.split(r"(\w+)", text)
    return "".join(f"<mark>{html.escape(p)}</mark>" if i % 2 and p.casefold() in words
                   else html.escape(p) for i, p in enumerate(parts))


def facets(hits: list[Candidate]) -> dict[str, list[tuple[str, int]]]:
    """Filter chips from the best hits: their folders, tags and authors, most common first."""
    counts: dict[str, dict[str, int]] = {"folder": {}, "tag": {}, "author": {}}
    for hit in hits[:FACET_HITS]:
        for key, items in (("folder", [hit.folder]), ("author", [hit.author]), ("tag", hit.tags)):
            for item in items:
                if item:
                    counts[key][item] = counts[key].get(item, 0) + 1
    return {k: sorted(v.items(), key=lambda kv: (-kv[1], kv[0]))[:8] for k, v in counts.items() if v}
