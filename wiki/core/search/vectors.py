"""The semantic index: passage vectors and page contributors, derived from git like the word index.

One SQLite file per generation under WIKI_DATA/index (a rebuild writes a new one and
switches the `vectors.current` pointer, so a reader never sees half a build). Every
write bumps a stamp file; a search reads that small file and, only when it changed,
loads what was added or dropped since its last look, so workers share one index
without a server and a search costs one matrix product over the passages.

Contributors (distinct authors of a page's commits) give each page a prior: a page
many people have shaped is one a team relies on, as Wikipedia's search prefers
articles many link to.
"""

from __future__ import annotations

import math
import os
import sqlite3
import threading
import time
from contextlib import closing
from pathlib import Path
from typing import Callable, Iterable

# A search multiplies one vector by the passage matrix: BLAS threads would only compete with the
# worker's other threads for the CPU (set before numpy loads; an explicit setting wins).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from .semantic import DIMENSIONS, MODEL_ID

_SCHEMA = """
CREATE TABLE IF NOT EXISTS passage(id INTEGER PRIMARY KEY AUTOINCREMENT, path TEXT NOT NULL,
                                   text TEXT NOT NULL, vec BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS passage_path ON passage(path);
CREATE TABLE IF NOT EXISTS dropped(id INTEGER PRIMARY KEY AUTOINCREMENT, passage INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS contributor(path TEXT NOT NULL, email TEXT NOT NULL,
                                       PRIMARY KEY (path, email)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_NEAR_PASSAGES = 400  # passages looked at to find the nearest pages (several may share a page)
_PRIOR_WEIGHT = 0.5  # the most-contributed page counts up to 1.5 times in the fused ranking


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(str(path), timeout=30, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    return db


class VectorStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._pointer = self.root / "vectors.current"
        self._stamp = self.root / "vectors.stamp"
        self._lock = threading.Lock()
        self._seen_stamp: str | None = None
        self._generation: str | None = None
        self._prior_stamp: str | None = None
        self._contributors: dict[str, int] = {}
        self._reset_cache()

    # -- files -----------------------------------------------------------------------
    def _current(self) -> Path | None:
        try:
            name = self._pointer.read_text().strip()
        except FileNotFoundError:
            return None
        path = self.root / name
        # a generation built by another model is as good as none: the index is rebuilt
        return path if name.startswith(f"vectors-{MODEL_ID}-") and path.exists() else None

    def exists(self) -> bool:
        return self._current() is not None

    def meta(self) -> dict[str, str]:
        path = self._current()
        if path is None:
            return {}
        try:
            with closing(_connect(path)) as db:
                return dict(db.execute("SELECT name, value FROM meta"))
        except sqlite3.Error:
            return {}

    def head(self) -> str | None:
        """The commit the semantic index reflects (read from the stamp: no database opened)."""
        try:
            parts = self._stamp.read_text().split()
        except FileNotFoundError:
            return None
        return parts[1] if len(parts) == 3 and parts[1] != "-" and self._current() else None

    def _touch(self, generation: str, head: str) -> None:
        tmp = self._stamp.with_name(f"vectors.stamp.{os.getpid()}.{threading.get_ident()}")
        tmp.write_text(f"{generation} {head or '-'} {time.time_ns()}")
        os.replace(tmp, self._stamp)

    # -- writing (the caller holds the index's writer lock) -----------------------------
    def create(self) -> "VectorWriter":
        """A new, empty generation, live once the writer publishes it."""
        self.root.mkdir(parents=True, exist_ok=True)
        name = f"vectors-{MODEL_ID}-{time.time_ns()}.sqlite"  # the model that builds it, in its name
        return VectorWriter(self, self.root / name, new=True)

    def writer(self) -> "VectorWriter | None":
        path = self._current()
        return VectorWriter(self, path, new=False) if path else None

    def _publish(self, path: Path, head: str) -> None:
        tmp = self._pointer.with_name(f"vectors.current.{os.getpid()}")
        tmp.write_text(path.name)
        os.replace(tmp, self._pointer)
        self._touch(path.name, head)
        for old in self.root.glob("vectors-*.sqlite*"):  # earlier generations
            if not old.name.startswith(path.name):
                try:
                    old.unlink()
                except OSError:
                    pass

    # -- reading -----------------------------------------------------------------------
    def _reset_cache(self) -> None:
        self._matrix = np.zeros((0, DIMENSIONS), np.float32)
        self._ids = np.zeros(0, np.int64)
        self._alive = np.zeros(0, bool)
        self._paths: list[str] = []
        self._rows: dict[int, int] = {}
        self._last_passage = 0
        self._last_dropped = 0
        self._count = 0

    def _read_stamp(self) -> str:
        try:
            return self._stamp.read_text()
        except FileNotFoundError:
            return ""

    def _refresh(self) -> bool:
        """Load the passages added and dropped since the last look; False when there is no index."""
        stamp = self._read_stamp()
        if stamp == self._seen_stamp and self._generation is not None:
            return True
        path = self._current()
        if path is None:
            return False
        if path.name != self._generation:
            self._reset_cache()
        try:
            with closing(_connect(path)) as db:
                self._load(db)
        except sqlite3.Error:
            return self._generation is not None
        self._generation, self._seen_stamp = path.name, stamp
        return True

    def _load(self, db: sqlite3.Connection) -> None:
        rows = db.execute("SELECT id, path, vec FROM passage WHERE id > ? ORDER BY id",
                          (self._last_passage,)).fetchall()
        dropped = db.execute("SELECT id, passage FROM dropped WHERE id > ? ORDER BY id",
                             (self._last_dropped,)).fetchall()
        if rows:
            need = self._count + len(rows)
            if need > len(self._matrix):
                capacity = max(need, int(len(self._matrix) * 1.5) + 1024)
                grown = np.zeros((capacity, DIMENSIONS), np.float32)
                grown[: self._count] = self._matrix[: self._count]
                self._matrix = grown
                self._ids = np.resize(self._ids, capacity)
                self._alive = np.resize(self._alive, capacity)
            block = np.frombuffer(b"".join(r[2] for r in rows), dtype=np.float32).reshape(len(rows), DIMENSIONS)
            self._matrix[self._count:need] = block
            self._ids[self._count:need] = [r[0] for r in rows]
            self._alive[self._count:need] = True
            for i, r in enumerate(rows):
                self._rows[r[0]] = self._count + i
                self._paths.append(r[1])
            self._count = need
            self._last_passage = rows[-1][0]
        for _, passage in dropped:
            row = self._rows.pop(passage, None)
            if row is not None:
                self._alive[row] = False
        if dropped:
            self._last_dropped = dropped[-1][0]

    def near(self, vector: np.ndarray, limit: int, keep=None) -> list[tuple[str, float, int]]:
        """The pages nearest to a query vector: (path, similarity of its best passage, passage id)."""
        with self._lock:
            if not self._refresh() or not self._count:
                return []
            scores = self._matrix[: self._count] @ vector
            scores[~self._alive[: self._count]] = -2.0
            k = min(_NEAR_PASSAGES, self._count)
            top = np.argpartition(-scores, k - 1)[:k]
            top = top[np.argsort(-scores[top])]
            out, seen = [], set()
            for row in top:
                path = self._paths[row]
                if path in seen or scores[row] < -1 or (keep is not None and not keep(path)):
                    continue
                seen.add(path)
                out.append((path, float(scores[row]), int(self._ids[row])))
                if len(out) >= limit:
                    break
            return out

    def passage_texts(self, ids: Iterable[int]) -> dict[int, str]:
        ids = list(ids)
        path = self._current()
        if not ids or path is None:
            return {}
        try:
            with closing(_connect(path)) as db:
                marks = ",".join("?" * len(ids))
                return dict(db.execute(f"SELECT id, text FROM passage WHERE id IN ({marks})", ids))
        except sqlite3.Error:
            return {}

    def priors(self) -> "Callable[[str], float]":
        """Each page's prior, as the index stands now: 1 for a page nobody is counted for, up to
        1.5 for the page with the most contributors (log-scaled)."""
        stamp = self._read_stamp()
        with self._lock:
            if stamp != self._prior_stamp:
                path = self._current()
                counts: dict[str, int] = {}
                if path is not None:
                    try:
                        with closing(_connect(path)) as db:
                            counts = dict(db.execute("SELECT path, count(*) FROM contributor GROUP BY path"))
                    except sqlite3.Error:
                        counts = self._contributors
                self._contributors, self._prior_stamp = counts, stamp
            counts = self._contributors
        scale = _PRIOR_WEIGHT / math.log1p(max(max(counts.values(), default=1), 1))
        return lambda p: 1.0 + scale * math.log1p(counts.get(p.partition("#")[0], 0))

    def stats(self) -> dict:
        with self._lock:
            self._refresh()
            alive = self._alive[: self._count]
            return {"passages": int(alive.sum()),
                    "pages": len({p for p, a in zip(self._paths, alive) if a})}


class VectorWriter:
    """Changes to one generation in one transaction; `commit` makes them visible."""

    def __init__(self, store: VectorStore, path: Path, new: bool) -> None:
        self.store, self.path, self.new = store, path, new
        self.db = _connect(path)
        self.db.executescript(_SCHEMA)
        self.db.execute("BEGIN IMMEDIATE")

    def vectors_of(self, path: str) -> dict[str, np.ndarray]:
        """A page's passages as stored now: text -> vector."""
        if self.new:
            return {}
        return {text: np.frombuffer(vec, dtype=np.float32) for text, vec in
                self.db.execute("SELECT text, vec FROM passage WHERE path = ?", (path,))}

    def replace(self, path: str, passages: list[str], vectors) -> None:
        if not self.new:
            self.remove(path)
        self.db.executemany("INSERT INTO passage(path, text, vec) VALUES (?, ?, ?)",
                            [(path, t, v.astype(np.float32).tobytes()) for t, v in zip(passages, vectors)])

    def remove(self, path: str) -> None:
        ids = [r[0] for r in self.db.execute("SELECT id FROM passage WHERE path = ?", (path,))]
        if ids:
            self.db.executemany("INSERT INTO dropped(passage) VALUES (?)", [(i,) for i in ids])
            self.db.execute("DELETE FROM passage WHERE path = ?", (path,))

    def contributors(self, pairs: Iterable[tuple[str, str]]) -> None:
        self.db.executemany("INSERT OR IGNORE INTO contributor(path, email) VALUES (?, ?)", pairs)

    def forget_contributors(self, path: str) -> None:
        self.db.execute("DELETE FROM contributor WHERE path = ?", (path,))

    def carry_contributors(self, old: str, new: str) -> None:
        """A renamed page keeps the people who wrote it."""
        self.db.execute("INSERT OR IGNORE INTO contributor(path, email) "
                        "SELECT ?, email FROM contributor WHERE path = ?", (new, old))

    def clear_contributors(self) -> None:
        self.db.execute("DELETE FROM contributor")

    def commit(self, meta: dict[str, str]) -> None:
        meta = dict(meta, model=MODEL_ID)
        self.db.executemany("INSERT OR REPLACE INTO meta(name, value) VALUES (?, ?)", meta.items())
        self.db.execute("COMMIT")
        if self.new:
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.db.close()
        if self.new:
            self.store._publish(self.path, meta.get("head", ""))
        else:
            self.store._touch(self.path.name, meta.get("head", ""))

    def cancel(self) -> None:
        try:
            self.db.execute("ROLLBACK")
        finally:
            self.db.close()
            if self.new:
                for f in self.path.parent.glob(self.path.name + "*"):
                    f.unlink(missing_ok=True)
