"""The wiki's Prometheus metrics, counted where things happen.

Requests are counted by the web layer, saves by `PageStore.save`, pushes by the git endpoint (from
git's report of each push, core/pushreport.py), searches by `SearchIndex.search`, the search
indexes' lag by the readiness check (core/health.py), render cache lookups by `Renderer.render`.

gunicorn's workers are separate processes. In multiprocess mode (PROMETHEUS_MULTIPROC_DIR names a
folder; `wiki serve` makes a fresh one under WIKI_DATA before any worker starts) every process
writes its numbers to files of its own there and a scrape adds them up, so the numbers are the
server's, whichever worker answers. prometheus_client chooses its mode when it is first imported,
so it is imported here on first use, never when this module is: the `wiki` command imports the
core long before `serve` sets the folder. Without the folder each process counts alone (a
development server, the tests, a plain `gunicorn` without the variable: /-/metrics then shows the
worker that answered).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from dataclasses import dataclass
from enum import Enum
from typing import Any, Iterator

log = logging.getLogger(__name__)

MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class SaveOutcome(Enum):
    """What a page save did (PageStore.save)."""
    CREATED = "created"
    SAVED = "saved"
    MERGED = "merged"  # the edit started from an older revision and merged cleanly
    UNCHANGED = "unchanged"
    CONFLICT = "conflict"  # nothing written: overlapping edits, or the page appeared or vanished meanwhile


class PushOutcome(Enum):
    """What git answered a push (core/pushreport.py)."""
    ACCEPTED = "accepted"
    REFUSED = "refused"


class SearchKind(Enum):
    PAGES = "pages"
    HISTORY = "history"


class CacheLookup(Enum):
    """Where the render cache found a rendering, or that it had to render."""
    MEMORY = "memory"
    DISK = "disk"
    MISS = "miss"


class ExposureMode(Enum):
    OFF = "off"  # /-/metrics answers 404
    ADMIN = "admin"  # /-/metrics for an admin's API token or session
    BIND = "bind"  # a server of its own on HOST:PORT (started by `wiki serve`); /-/metrics answers 404


@dataclass(frozen=True)
class Exposure:
    """Who may read the metrics: WIKI_METRICS, parsed."""
    mode: ExposureMode
    host: str = ""
    port: int = 0

    @classmethod
    def parse(cls, value: Any) -> "Exposure":
        """off | admin | HOST:PORT (a bind such as 127.0.0.1:9100 or [::1]:9100); ValueError otherwise."""
        text = str(value if value is not None else "").strip()
        if text.lower() in ("off", "admin"):
            return cls(ExposureMode(text.lower()))
        host, colon, port = text.rpartition(":")
        host = host.strip("[]")
        if colon and port.isdigit() and 0 < int(port) < 65536:
            return cls(ExposureMode.BIND, host or "0.0.0.0", int(port))
        raise ValueError(f"WIKI_METRICS must be off, admin or a bind such as 127.0.0.1:9100, not {text!r}")


def multiprocess_folder() -> str | None:
    """The folder the processes share their numbers in, or None when each counts alone."""
    return os.environ.get(MULTIPROCESS_VARIABLE) or None


class _Metrics:
    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics, values

        disable_created_metrics()  # the *_created series (a timestamp per series) multiprocess mode lacks anyway
        folder = multiprocess_folder()
        if folder:
            os.makedirs(folder, exist_ok=True)
            if not getattr(values.ValueClass, "_multiprocess", False):  # imported before the folder was set
                values.ValueClass = values.get_value_class()
        by_request = ["route", "method", "status"]
        self.requests = Counter("tacit_http_requests", "HTTP requests answered, by route (the URL rule, "
                                "'unmatched' for none), method and status.", by_request)
        self.request_seconds = Histogram("tacit_http_request_duration_seconds", "Time to answer a request "
                                         "(to its headers, for streamed answers), by route, method and status.",
                                         by_request)
        self.saves = Counter("tacit_page_saves", "Page saves by outcome: created, saved, merged (begun on an "
                             "older revision and merged cleanly), unchanged, conflict (nothing written).",
                             ["outcome"])
        self.pushes = Counter("tacit_git_pushes", "Pushes over HTTP, accepted or refused (by the wiki's rules, "
                              "the checkout or git itself), as git reported them to the pusher.", ["outcome"])
        self.search_seconds = Histogram("tacit_search_duration_seconds", "Time to answer a search, catching up "
                                        "the index included, by kind (pages or history).", ["kind"],
                                        buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))
        self.index_lag = Gauge("tacit_search_index_lag_commits", "Commits the search index is behind the "
                               "branch head, by index (pages, history, vectors), as last measured by a "
                               "readiness check or a scrape.", ["index"], multiprocess_mode="mostrecent")
        self.render_hits = Counter("tacit_render_cache_hits", "Renderings found in the render cache, by tier "
                                   "(memory of the process, or the shared disk cache).", ["tier"])
        self.render_misses = Counter("tacit_render_cache_misses", "Renderings the render cache did not have.")


_instance: _Metrics | None = None
_instance_lock = threading.Lock()


def _metrics() -> _Metrics:
    global _instance
    if _instance is None:
        with _instance_lock:
            if _instance is None:
                _instance = _Metrics()
    return _instance


@contextlib.contextmanager
def _never_failing() -> Iterator[None]:
    """Counting must never fail what is counted (a full disk, a folder removed under the server)."""
    try:
        yield
    except Exception:  # noqa: BLE001
        log.warning("a metric could not be recorded", exc_info=True)


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    method = method if method in _METHODS else "other"
    with _never_failing():
        m = _metrics()
        m.requests.labels(route, method, str(status)).inc()
        m.request_seconds.labels(route, method, str(status)).observe(seconds)


def count_save(outcome: SaveOutcome) -> None:
    with _never_failing():
        _metrics().saves.labels(outcome.value).inc()


def count_push(outcome: PushOutcome) -> None:
    with _never_failing():
        _metrics().pushes.labels(outcome.value).inc()


def count_render(lookup: CacheLookup) -> None:
    with _never_failing():
        m = _metrics()
        if lookup is CacheLookup.MISS:
            m.render_misses.inc()
        else:
            m.render_hits.labels(lookup.value).inc()


def set_index_lag(index: str, commits: int) -> None:
    with _never_failing():
        _metrics().index_lag.labels(index).set(commits)


@contextlib.contextmanager
def timed_search(kind: SearchKind) -> Iterator[None]:
    """Time a search into the latency histogram (also when it fails)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        elapsed = time.perf_counter() - started
        with _never_failing():
            _metrics().search_seconds.labels(kind.value).observe(elapsed)


def registry():
    """The registry a scrape reads: every process's files in multiprocess mode, else this process's."""
    from prometheus_client import REGISTRY, CollectorRegistry, multiprocess

    _metrics()  # so a scrape before the first event still lists every metric
    folder = multiprocess_folder()
    if not folder:
        return REGISTRY
    shared = CollectorRegistry()
    multiprocess.MultiProcessCollector(shared, path=folder)
    return shared


def exposition() -> tuple[bytes, str]:
    """The metrics in Prometheus' text format, and its content type."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return generate_latest(registry()), CONTENT_TYPE_LATEST


def prepare_multiprocess_folder(data_dir: str | os.PathLike) -> str:
    """Set PROMETHEUS_MULTIPROC_DIR (kept if already set, else WIKI_DATA/metrics) and empty it of the
    numbers of an earlier run; call it in the server's first process, before any worker starts."""
    folder = multiprocess_folder() or os.path.join(os.fspath(data_dir), "metrics")
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(folder):
        if name.endswith(".db"):  # only what prometheus_client writes, in case the folder is shared
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(folder, name))
    os.environ[MULTIPROCESS_VARIABLE] = folder
    _forget_process_metrics()
    return folder


def _forget_process_metrics() -> None:
    """Metrics this process made before the folder was set count in its memory only, and workers
    forked from it would inherit them: drop them, so the next use makes them in the folder."""
    global _instance
    with _instance_lock:
        if _instance is None:
            return
        from prometheus_client import REGISTRY

        for metric in vars(_instance).values():
            with contextlib.suppress(KeyError):
                REGISTRY.unregister(metric)
        _instance = None


def mark_process_dead(pid: int) -> None:
    """A worker ended: drop its numbers of live-only gauges (its counters still count)."""
    folder = multiprocess_folder()
    if folder:
        from prometheus_client import multiprocess

        with _never_failing():
            multiprocess.mark_process_dead(pid, folder)
