"""The default search engine: two Whoosh indexes under WIKI_DATA/index.

`pages` holds one document per page (and talk thread); `history` one per
(commit, page) with the lines that commit added and removed, so it grows with
the changes, not with pages x revisions. Each index lives in a generation
folder named by a pointer file; a rebuild writes a new generation and swaps
the pointer, so searches keep answering from the old one meanwhile.

One writer per index at a time, across processes: an flock per index
(`writer_lock`), so a page catch-up never waits for another process's slower
history catch-up. Readers never lock: Whoosh segments are immutable and a
searcher is reopened when the index moved on.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import re
import shutil
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Callable, ContextManager, Iterable, Iterator
from urllib.parse import quote, unquote

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein
from whoosh import highlight, index, qparser
from whoosh.analysis import StandardAnalyzer, StemmingAnalyzer
from whoosh.fields import DATETIME, ID, KEYWORD, STORED, TEXT, Schema
from whoosh.query import And, AndMaybe, Every, Phrase, Not, NullQuery, Or, Prefix, Query, Term

from ..locks import file_lock
from .engine import Candidate, Candidates, Hit, Index, PageDoc, RevisionDoc

RARE_WORD_PAGES = 2  # a word in at most this many pages may be a misspelling others share
COMMONER = 10  # ...when a spelling within two edits is in at least this many times as many pages
VOCABULARY_SECONDS = 600.0  # how long the words offered as corrections are reused
META_PATH = "\x00meta"
_STEM = StemmingAnalyzer()
_PLAIN = StandardAnalyzer(stoplist=None, minsize=2)


def page_schema() -> Schema:
    return Schema(
        path=ID(stored=True, unique=True),
        kind=ID(stored=True),  # page | meta
        source=ID(stored=True),  # page | talk
        folder=ID(stored=True),
        folders=KEYWORD(),  # every folder above the page, for in:Folder/
        title=TEXT(stored=True, field_boost=6.0, analyzer=_STEM),
        title_exact=ID(),
        headings=TEXT(field_boost=2.5, analyzer=_STEM),
        lead=TEXT(field_boost=3.0, analyzer=_STEM),
        body=TEXT(stored=True, analyzer=_STEM),
        words=TEXT(analyzer=_PLAIN),  # unstemmed vocabulary of titles, headings and leads, for corrections
        tags=KEYWORD(stored=True, commas=True, lowercase=True, scorable=True, field_boost=3.0),
        author=TEXT(stored=True),
        who=ID(stored=True),
        date=DATETIME(stored=True, sortable=True),
        revision=ID(stored=True),
        links=KEYWORD(stored=True),
        meta=STORED,
    )


def history_schema() -> Schema:
    return Schema(
        key=ID(stored=True, unique=True),
        kind=ID(stored=True),
        path=ID(stored=True),
        folder=ID(stored=True),
        revision=ID(stored=True),
        author=TEXT(stored=True),
        who=ID(stored=True),
        date=DATETIME(stored=True, sortable=True),
        added=TEXT(stored=True, analyzer=_STEM),
        removed=TEXT(stored=True, analyzer=_STEM),
        message=TEXT(stored=True, analyzer=_STEM),
        meta=STORED,
    )


SCHEMAS: dict[str, Callable[[], Schema]] = {"pages": page_schema, "history": history_schema}
DEFAULT_FIELDS = {"pages": ["title", "headings", "lead", "body"],
                  "history": ["added", "removed", "message"]}
# On top of the schema's field boosts; query-time, so changing them needs no rebuild.
# The lead (first paragraph) says what a page is about: it counts twice.
QUERY_BOOSTS = {"pages": {"lead": 2.0}}
_IN = re.compile(r'(?:^|\s)in:("([^"]+)"|\S+)')
_CHANGED = re.compile(r"(?:^|\s)changed:(>=|<=|>|<|=)?(\d{4}-\d{2}-\d{2})")
_HISTORY = re.compile(r"(?:^|\s)history:(\s|$)")


def encode_links(links: Iterable[str]) -> str:
    return " ".join(quote(link, safe="") for link in sorted(links))


def folder_of(path: str) -> str:
    return path.split("/", 1)[0] if "/" in path else ""


class _Generation:
    """The live folder of one index, chosen by a pointer file; swapped atomically on rebuild."""

    def __init__(self, root: Path, name: str) -> None:
        self.root = root
        self.name = name
        self.pointer = root / f"{name}.current"

    def current(self) -> Path | None:
        try:
            folder = self.root / self.pointer.read_text().strip()
        except OSError:
            return None
        return folder if folder.is_dir() else None

    def new_folder(self) -> Path:
        folder = self.root / f"{self.name}-{time.time_ns()}"
        folder.mkdir(parents=True)
        return folder

    def publish(self, folder: Path) -> None:
        old = self.current()
        tmp = self.root / f".{self.name}.current.{os.getpid()}"
        tmp.write_text(folder.name)
        os.replace(tmp, self.pointer)
        if old and old != folder:
            shutil.rmtree(old, ignore_errors=True)


class WhooshEngine:
    """Both indexes of a wiki in one folder: generations, writer locks, writes, queries (engine.SearchEngine)."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._generations = {name: _Generation(self.root, name) for name in SCHEMAS}
        self._local = threading.local()
        self._opened: list = []  # every searcher this engine opened, for close()
        self._opened_lock = threading.Lock()
        self._vocabulary: tuple[Path | None, float, _Vocabulary] | None = None  # (generation, read at, words)

    # -- opening ---------------------------------------------------------------
    def open(self, name: str):
        """The live index, or None when it is missing or unreadable (then it gets rebuilt)."""
        folder = self._generations[name].current()
        if folder is None:
            return None
        try:
            ix = index.open_dir(str(folder))
        except Exception:
            return None
        if set(ix.schema.names()) != set(SCHEMAS[name]().names()):
            return None  # built by an older version: rebuilt like a missing index
        return ix

    def is_built(self, index: Index) -> bool:
        return self.open(index) is not None

    def _create(self, name: str):
        """A new, empty generation (not live until published)."""
        folder = self._generations[name].new_folder()
        return index.create_in(str(folder), SCHEMAS[name]()), folder

    def _publish(self, name: str, folder: Path) -> None:
        self._generations[name].publish(folder)
        self._searchers().pop(name, None)

    def _searchers(self) -> dict:
        cache = getattr(self._local, "searchers", None)
        if cache is None:
            cache = self._local.searchers = {}
        return cache

    def searcher(self, name: str):
        """A per-thread searcher, reopened when another process committed.

        Not `Searcher.refresh()`: it reuses the readers of unchanged segments and
        so keeps their old deletions (a deleted page would still be found).
        """
        cache = self._searchers()
        folder = self._generations[name].current()
        entry = cache.get(name)
        if entry is not None and entry[0] == folder:
            try:
                if entry[1].up_to_date():
                    return entry[1]
            except Exception:
                pass
            with contextlib.suppress(Exception):
                entry[1].close()
            cache.pop(name, None)
        ix = self.open(name)
        if ix is None:
            return None
        searcher = ix.searcher()
        cache[name] = (folder, searcher)
        with self._opened_lock:
            self._opened = [s for s in self._opened if not s.is_closed] + [searcher]
        return searcher

    def close(self) -> None:
        """Close every searcher opened (their files); a later query opens new ones."""
        with self._opened_lock:
            opened, self._opened = self._opened, []
        for searcher in opened:
            with contextlib.suppress(Exception):
                searcher.close()

    def meta(self, name: str) -> dict[str, str]:
        searcher = self.searcher(name)
        if searcher is None:
            return {}
        try:
            key = "path" if name == "pages" else "key"
            stored = searcher.document(**{key: META_PATH})
        except Exception:
            return {}
        return json.loads(stored["meta"]) if stored and stored.get("meta") else {}

    # -- writing ---------------------------------------------------------------
    def writer_lock(self, index: Index, wait: bool | float) -> ContextManager[bool]:
        """One writer per index across processes (an flock beside it, released by the kernel if a process dies)."""
        return file_lock(self.root / f"write-{index}.lock", wait)

    def update(self, docs: Iterable[PageDoc], removed: Iterable[str], meta: dict[str, str]) -> None:
        with _writing(self._live("pages"), timeout=30, _merge=merge_by_size) as writer:
            _write_pages(writer, docs, removed, meta)

    def update_history(self, docs: Iterable[RevisionDoc], meta: dict[str, str]) -> None:
        with _writing(self._live("history"), timeout=30, _merge=merge_by_size) as writer:
            _write_history(writer, docs, meta)

    def _live(self, name: str):
        ix = self.open(name)
        if ix is None:
            raise RuntimeError(f"the {name} index is missing")
        return ix

    def begin_rebuild(self, index: Index) -> "_Rebuild":
        return _Rebuild(self, index)

    # -- querying -------------------------------------------------------------
    def query(self, text: str, offset: int = 0, limit: int = 20, hidden: list[str] | None = None,
              history: bool = False) -> Candidates:
        """Matches by BM25F, every one counted; the best offset + limit of them listed."""
        hidden = hidden or []
        if _HISTORY.search(text):
            history, text = True, _HISTORY.sub(" ", text)
        name: Index = "history" if history else "pages"
        searcher = self.searcher(name)
        if searcher is None:
            return Candidates(name, [], 0, reindexing=True)
        try:
            q, filters, plain = self._parse(name, searcher, text)
        except ValueError as e:
            return Candidates(name, [], 0, error=str(e))
        if q is None:
            return Candidates(name, [], 0, error="Type a word to search for.")
        # The metadata document and hidden pages are masked out (a one-document mask is cheap;
        # a "kind is page" filter would walk every document after each index change).
        mask = Or([Term("kind", "meta")] + [q for p in hidden for q in (
            [Prefix("path", p)] if p.endswith("/") else [Term("path", p), Prefix("path", p + "#")])])
        days = [f for f in filters if isinstance(f, _DayRange)]
        rest = [f for f in filters if not isinstance(f, _DayRange)]
        allow = And(rest) if rest else None
        if days:  # date ranges filter on the date column: a range query would expand thousands of terms
            kind = Term("kind", "page" if name == "pages" else "revision")
            allowed = set(searcher.docs_for_query(And([kind] + rest)))
            column = searcher.reader().column_reader("date")
            for day in days:
                allowed = {n for n in allowed if day.holds(_column_value(column, n))}
            if not allowed:  # an empty set would read as "no filter"
                return Candidates(name, [], 0, filtered_out=True)
            allow = allowed
        # Every match is scored in one pass: Whoosh's top-N search would skip low scorers, but then
        # needs a second pass over all matches to count them, and that costs more (2 to 4x here).
        found = searcher.search(q, limit=None, filter=allow, mask=mask, terms=True)
        self._decorate(found)
        hits = [self._candidate(name, h) for h in found[:offset + limit]]
        core = q.a if isinstance(q, AndMaybe) else q  # the words, without the phrase bonus
        def missing_one(limit: int) -> list[Candidate]:
            return [self._candidate(name, h) for h in self._coordinated(searcher, core, limit, allow, mask)]
        partial = missing_one if plain and isinstance(core, And) and len(core.subqueries) > 1 else None
        exact = None
        if name == "pages" and plain:
            found_exact = self._exact_title(searcher, plain, allow, mask)
            exact = self._candidate(name, found_exact) if found_exact is not None else None
        return Candidates(name, hits, len(found), exact, partial)

    def _candidate(self, name: str, hit) -> Candidate:
        tags = tuple(t for t in (hit.get("tags") or "").split(",") if t) if name == "pages" else ()
        return Candidate(hit["path"], hit.score, hit.get("folder") or "", hit.get("who") or "", tags,
                         lambda score: self._hit(name, hit, score))

    def _coordinated(self, searcher, q: And, limit: int, allow, mask) -> list:
        """Pages matching all but at most one of the words, by (words matched, BM25F score)."""
        words = q.subqueries
        found = searcher.search(Or(words), limit=max(limit * 4, 200), filter=allow, mask=mask, terms=True)
        self._decorate(found)
        need = len(words)
        counted = []
        for hit in found:
            matched = {(f, t) for f, t in hit.matched_terms()}
            have = sum(1 for w in words if any((leaf.fieldname, leaf.text.encode() if isinstance(leaf.text, str)
                                                 else leaf.text) in matched for leaf in _leaves(w)))
            if have >= need - 1:
                counted.append((have, hit.score, hit))
        counted.sort(key=lambda c: (c[0], c[1]), reverse=True)
        return [c[2] for c in counted[:limit]]

    @staticmethod
    def _decorate(found) -> None:
        found.fragmenter = highlight.SentenceFragmenter(maxchars=240, sentencechars=".!?\n")
        found.formatter = highlight.HtmlFormatter(tagname="mark", between=" … ")

    def _parse(self, name: str, searcher, text: str, expand: bool = True) -> tuple[Query | None, list[Query], str]:
        filters: list[Query] = []
        for m in _IN.finditer(text):
            folder = (m.group(2) or m.group(1)).strip("/")
            if name == "pages":
                filters.append(Term("folders", quote(folder, safe="")))
            else:
                filters.append(Prefix("path", folder + "/"))
        text = _IN.sub(" ", text)
        for m in _CHANGED.finditer(text):
            op, day = m.group(1) or "=", m.group(2)
            try:
                when = datetime.strptime(day, "%Y-%m-%d")
            except ValueError:
                raise ValueError(f"{day} is not a date (use YYYY-MM-DD).") from None
            start = end = None
            if op in (">", ">="):
                start = when if op == ">=" else when.replace(hour=23, minute=59, second=59)
            elif op in ("<", "<="):
                end = when.replace(hour=23, minute=59, second=59) if op == "<=" else when
            else:
                start, end = when, when.replace(hour=23, minute=59, second=59)
            filters.append(_DayRange(start, end))
        text = _CHANGED.sub(" ", text).strip()
        plain = text if re.fullmatch(r"[\w\s.'-]+", text) else ""
        if not text:
            return (Every() if filters else None), filters, ""
        parser = qparser.MultifieldParser(DEFAULT_FIELDS[name], schema=searcher.schema, group=qparser.AndGroup,
                                          fieldboosts=QUERY_BOOSTS.get(name))
        parser.add_plugin(qparser.FieldAliasPlugin({"tags": ["tag"], "title": ["title"], "author": ["by"]}))
        parser.remove_plugin_class(qparser.BoostPlugin)
        parser.add_plugin(qparser.PlusMinusPlugin())
        try:
            q = parser.parse(text)
        except Exception:  # whoosh's parser fails on some operator mixes, e.g. "a (+b)": take the words
            words = " ".join(re.findall(r"\w+", text))
            q = parser.parse(words) if words else None
        if q is None or q is NullQuery:
            return (Every() if filters else None), filters, plain
        if name == "pages" and expand:
            q = _with_title_prefixes(q)
            if plain:
                q = _with_phrases(q)
        return q, filters, plain

    def _exact_title(self, searcher, plain: str, allow, mask: Query | None):
        found = searcher.search(Term("title_exact", plain.strip().casefold()), limit=1, filter=allow, mask=mask)
        for hit in found:
            return hit
        return None

    def _suggest(self, searcher, name: str, text: str) -> str | None:
        """A correction from the index's own (unstemmed) vocabulary: "did you mean …"."""
        if name != "pages":
            return None
        words = re.findall(r"\w+", _IN.sub(" ", _CHANGED.sub(" ", text)).lower())
        if not words or len(words) > 8:
            return None
        reader, changed, out = searcher.reader(), False, []
        for word in words:
            try:
                known = reader.doc_frequency("words", word)
            except Exception:
                return None
            if len(word) < 3 or word in ("and", "or", "not") or known > RARE_WORD_PAGES:
                out.append(word)
                continue
            found = [w for w in self._words_of(searcher).near(word) if w != word]
            if known:  # a word a page or two misspell too: only a far more common spelling replaces it
                found = [w for w in found if reader.doc_frequency("words", w) >= COMMONER * known]
            if found:  # the closest spelling first, the most common among equals
                best = min(found, key=lambda w: (_distance(word, w), -reader.doc_frequency("words", w)))
                out.append(best)
                changed = True
            else:
                out.append(word)
        return " ".join(out) if changed else None

    def _words_of(self, searcher) -> "_Vocabulary":
        """The page index's vocabulary, shared by the threads: read when the index is rebuilt and
        every VOCABULARY_SECONDS (125 ms on tldr). A word saved since is not offered yet, and a
        word gone is never offered, since a correction must find more pages than the question."""
        folder = self._generations["pages"].current()
        known = self._vocabulary
        if known is None or known[0] != folder or time.monotonic() - known[1] > VOCABULARY_SECONDS:
            known = self._vocabulary = (folder, time.monotonic(), _Vocabulary(searcher.reader()))
        return known[2]

    def suggest(self, text: str) -> str | None:
        searcher = self.searcher("pages")
        if searcher is None:
            return None
        return self._suggest(searcher, "pages", text)

    @staticmethod
    def _hit(name: str, hit, score: float) -> Hit:
        if name == "pages":
            return _page_hit(hit, hit.highlights("body", top=2), score)
        snippet = hit.highlights("added", top=2) or hit.highlights("removed", top=2) \
            or hit.highlights("message") or html.escape(_first_sentence(hit.get("added") or hit.get("removed") or ""))
        return Hit(hit["path"], hit["path"], snippet, score, "history", hit.get("revision"),
                   hit.get("who", ""), hit.get("date"))

    def page(self, key: str) -> Hit | None:
        searcher = self.searcher("pages")
        if searcher is None:
            return None
        fields = searcher.document(path=key)
        if not fields or fields.get("kind") == "meta":
            return None
        return _page_hit(fields, "", 0.0)

    # -- links -------------------------------------------------------------------
    def links_to(self, path: str) -> list[str]:
        searcher = self.searcher("pages")
        if searcher is None:
            return []
        found = searcher.search(Term("links", quote(path, safe="")), limit=None,
                                filter=Term("kind", "page"))
        return sorted(hit["path"] for hit in found)

    def all_links(self) -> dict[str, set[str]]:
        """Every page -> the pages it links to."""
        searcher = self.searcher("pages")
        if searcher is None:
            return {}
        out: dict[str, set[str]] = {}
        for fields in searcher.all_stored_fields():
            if fields.get("kind") == "page":
                out[fields["path"]] = {unquote(x) for x in (fields.get("links") or "").split() if x}
        return out

    def stats(self, name: str) -> dict:
        searcher = self.searcher(name)
        return {"documents": searcher.doc_count() if searcher else 0}


def _page_hit(fields, highlighted: str, score: float) -> Hit:
    """A page or thread as listed; without highlights, its snippet is the start of its text."""
    snippet = highlighted or html.escape(_first_sentence(fields.get("body", "")))
    source = fields.get("source", "page")
    path, _, thread = fields["path"].partition("#") if source == "talk" else (fields["path"], "", "")
    return Hit(path, fields.get("title") or path, snippet, score, source, fields.get("revision"),
               fields.get("who", ""), fields.get("date"),
               tuple(t for t in (fields.get("tags") or "").split(",") if t), thread or None)


def _page_fields(doc: PageDoc) -> dict:
    t = doc.text
    parts = t.path.split("/")[:-1]
    folders = " ".join(quote("/".join(parts[: i + 1]), safe="") for i in range(len(parts)))
    return dict(path=t.path, kind="page" if doc.source == "page" else doc.source, source=doc.source,
                folder=folder_of(t.path), folders=folders, title=t.title, title_exact=t.title.strip().casefold(),
                headings=t.headings, lead=t.lead, body=t.body,
                words=" ".join((t.title, t.path.replace("/", " ").replace("-", " "), t.headings, t.lead, t.body)),
                tags=",".join(t.tags), author=f"{doc.author} {doc.email}", who=doc.author, date=doc.date,
                revision=doc.revision, links=encode_links(t.links))


def _write_pages(writer, docs: Iterable[PageDoc], removed: Iterable[str], meta: dict[str, str] | None) -> int:
    count = 0
    for path in removed:
        writer.delete_by_term("path", path)
    for doc in docs:
        writer.update_document(**_page_fields(doc))
        count += 1
    if meta is not None:  # once per writer: Whoosh keeps duplicates added in one session
        writer.update_document(path=META_PATH, kind="meta", meta=json.dumps(meta))
    return count


def _write_history(writer, docs: Iterable[RevisionDoc], meta: dict[str, str] | None) -> int:
    count = 0
    for d in docs:
        writer.update_document(key=d.key, kind="revision", path=d.path, folder=folder_of(d.path),
                               revision=d.revision, author=d.author, who=d.author, date=d.date,
                               added=d.added, removed=d.removed, message=d.message)
        count += 1
    if meta is not None:
        writer.update_document(key=META_PATH, kind="meta", meta=json.dumps(meta))
    return count


@contextlib.contextmanager
def _writing(ix, _merge=None, **options) -> Iterator:
    """A Whoosh writer committed when the block ends, cancelled when it fails."""
    writer = ix.writer(**options)
    try:
        yield writer
    except BaseException:
        writer.cancel()
        raise
    if _merge is None:
        writer.commit()
    else:
        writer.commit(mergetype=_merge)


class _Rebuild:
    """A new generation written by one big writer (engine.Rebuild); its folder goes if it never goes live."""

    def __init__(self, engine: WhooshEngine, name: Index) -> None:
        self.engine, self.name = engine, name
        ix, self.folder = engine._create(name)
        try:
            self.writer = ix.writer(limitmb=512, procs=1)
        except BaseException:
            shutil.rmtree(self.folder, ignore_errors=True)
            raise

    def add(self, docs) -> int:
        if self.name == "pages":
            return _write_pages(self.writer, docs, (), None)
        return _write_history(self.writer, docs, None)

    def commit(self, meta: dict[str, str]) -> None:
        try:
            if self.name == "pages":
                _write_pages(self.writer, (), (), meta)
            else:
                _write_history(self.writer, (), meta)
            self.writer.commit()
            self.engine._publish(self.name, self.folder)
        except BaseException:
            shutil.rmtree(self.folder, ignore_errors=True)
            raise

    def cancel(self) -> None:
        try:
            self.writer.cancel()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


def merge_by_size(writer, segments, ratio: int = 2):
    """Whoosh merge policy for catch-ups: fold the smallest segments together, like a binary counter.

    Each catch-up writes a small segment. Folding every one into a single second segment (as this
    once did) rewrites that segment on every catch-up, so a catch-up cost as much as every change
    since the last full build: saves got slower as the wiki grew. Merging only segments of like
    size rewrites each document O(log n) times and keeps O(log n) segments for queries.
    """
    from whoosh.reading import SegmentReader

    ascending = sorted(segments, key=lambda seg: seg.doc_count_all())
    merged, total = [], 0
    for seg in ascending:
        if merged and seg.doc_count_all() > ratio * total:
            break
        merged.append(seg)
        total += seg.doc_count_all()
    if len(merged) <= 1:
        return segments
    for seg in merged:
        reader = SegmentReader(writer.storage, writer.schema, seg)
        writer.add_reader(reader)
        reader.close()
    return [seg for seg in segments if seg not in merged]


def _column_value(column, docnum: int):
    try:
        return column[docnum]
    except (OverflowError, ValueError):
        return None


class _DayRange:
    """changed:>DATE and friends, applied to the sortable date column."""

    def __init__(self, start: datetime | None, end: datetime | None) -> None:
        self.start, self.end = start, end

    def holds(self, value) -> bool:
        if value is None:
            return False
        return (self.start is None or value >= self.start) and (self.end is None or value <= self.end)


class _Vocabulary:
    """The index's own (unstemmed) words by first letter, for "did you mean": Whoosh's suggest
    walks a Levenshtein automaton over every term in Python (40 ms a word on tldr); rapidfuzz
    compares a word with the few thousand of its first letter in C."""

    def __init__(self, reader) -> None:
        by_first: dict[str, list[str]] = {}
        for term in reader.lexicon("words"):
            word = term.decode("utf-8") if isinstance(term, bytes) else term
            by_first.setdefault(word[:1], []).append(word)
        self._by_first = by_first

    def near(self, word: str) -> list[str]:
        """Every word within two edits that starts with the same letter (a typo rarely changes it)."""
        choices = self._by_first.get(word[:1], ())
        return [w for w, _, _ in process.extract(word, choices, scorer=Levenshtein.distance, score_cutoff=2,
                                                 limit=None)]


def _distance(a: str, b: str) -> int:
    """Edit distance with transpositions ("grpe" is one step from "grep"), for ranking suggestions."""
    d = [[max(i, j) if i == 0 or j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[-1][-1]


def _leaves(q: Query) -> list:
    """Terms and prefixes inside a word's query, for telling which words a hit matched."""
    if isinstance(q, (Term, Prefix)):
        return [q]
    return [leaf for sub in getattr(q, "subqueries", []) for leaf in _leaves(sub)]


def _with_title_prefixes(q: Query) -> Query:
    """Let each plain word also match the start of a title word ("kubect" finds kubectl).

    MultifieldParser turns a word into an Or of one Term per default field;
    such an Or gains a low-boost Prefix on the title.
    """
    if isinstance(q, Or) and q.subqueries and all(isinstance(s, Term) for s in q.subqueries):
        title = next((s for s in q.subqueries if s.fieldname == "title"), None)
        if title is not None and len(title.text) >= 3:
            return Or(list(q.subqueries) + [Prefix("title", title.text, boost=0.3)])
        return q
    if isinstance(q, (And, Or)):
        return q.__class__([_with_title_prefixes(s) for s in q.subqueries], boost=q.boost)
    if isinstance(q, Not):
        return q
    return q


_PHRASE_FIELDS = {"title": 3.0, "lead": 2.0, "headings": 1.5, "body": 1.0}


def _with_phrases(q: Query) -> Query:
    """Pages where neighbouring words of the question stand together rank higher (a phrase rescore)."""
    if not isinstance(q, And) or len(q.subqueries) < 2:
        return q
    stems = []
    for word in q.subqueries:
        term = next((s for s in getattr(word, "subqueries", []) if isinstance(s, Term) and s.fieldname == "body"), None)
        stems.append(term.text if term is not None else None)
    pairs = [(a, b) for a, b in zip(stems, stems[1:]) if a and b]
    if not pairs:
        return q
    phrases = [Phrase(field, [a, b], slop=2, boost=weight)
               for a, b in pairs for field, weight in _PHRASE_FIELDS.items()]
    return AndMaybe(q, Or(phrases))


def _first_sentence(text: str, limit: int = 200) -> str:
    text = text.strip()
    cut = re.search(r"[.!?\n]", text[:limit])
    return text[: cut.end()] if cut else text[:limit]


__all__ = ["WhooshEngine", "Not"]
