"""What `wiki serve` adds to gunicorn's arbiter (the process that starts and watches the workers).

* on_starting: the metrics folder the workers share (PROMETHEUS_MULTIPROC_DIR: kept if set, else
  WIKI_DATA/metrics), emptied of an earlier run's numbers, set before any worker starts, so every
  worker's prometheus_client counts into it (core/metrics.py). Not with WIKI_METRICS=off.
* when_ready: with WIKI_METRICS=HOST:PORT, prometheus_client's own HTTP server on that bind,
  adding up the workers' files; and the start-up check: /-/ready is asked on the wiki's own bind
  until it answers 200 (or READY_WAIT seconds pass), then the log says the wiki is ready, or
  which check failed and why.
* child_exit: a worker that ended has its live-only gauges dropped (its counters still count).
* on_exit: the helper processes end with the arbiter.

The check and the metrics server run in processes of their own, started with exec: a thread of the
arbiter that imports a module while the arbiter forks a worker leaves that module's import lock held
forever in the worker, which then hangs at its first request (seen: `encodings.idna`). The arbiter
keeps one thread per helper that only relays the helper's log lines to gunicorn's log.

The module is also a gunicorn configuration file, for those who run gunicorn themselves:

    gunicorn -c python:wiki.gunicorn_hooks 'wiki:create_app()'
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from enum import Enum
from typing import IO, Any, Callable

from .config import load_config
from .core import metrics
from .core.metrics import Exposure, ExposureMode

READY_WAIT = 120.0  # seconds the start-up check waits for /-/ready to say 200
_PAUSE = 0.25


class StartupState(Enum):
    READY = "ready"
    NOT_READY = "not ready"  # /-/ready answered 503 until the wait ended
    NO_ANSWER = "no answer"  # nothing answered on the bind


def on_starting(server: Any) -> None:
    settings = load_config()
    if Exposure.parse(settings["WIKI_METRICS"]).mode is not ExposureMode.OFF:
        folder = metrics.prepare_multiprocess_folder(settings["WIKI_DATA"])
        server.log.debug("metrics of every worker are kept in %s", folder)


def when_ready(server: Any) -> None:
    settings = load_config()
    ready_url = readiness_url(server)
    exposure = Exposure.parse(settings["WIKI_METRICS"])
    if exposure.mode is ExposureMode.BIND:
        folder = metrics.multiprocess_folder()
        if folder is None:
            server.log.error("WIKI_METRICS=%s:%s but no metrics folder (PROMETHEUS_MULTIPROC_DIR): use this "
                             "module's on_starting hook; metrics are not served", exposure.host, exposure.port)
        else:
            _start_helper(server, "metrics", exposure.host, str(exposure.port), ready_url or "")
    if ready_url is None:
        server.log.info("the wiki listens on no TCP address: readiness is not checked at start")
        return
    _start_helper(server, "ready", ready_url)


def child_exit(server: Any, worker: Any) -> None:
    metrics.mark_process_dead(worker.pid)


def on_exit(server: Any) -> None:
    for proc in getattr(server, "tacit_helpers", []):
        if proc.poll() is None:
            proc.terminate()


HOOKS: dict[str, Callable[..., None]] = {"on_starting": on_starting, "when_ready": when_ready,
                                         "child_exit": child_exit, "on_exit": on_exit}


# -- helper processes, their log relayed to the arbiter's ----------------------------------------------
_HELPER = "import sys; from wiki.gunicorn_hooks import helper_main; sys.exit(helper_main(sys.argv[1:]))"


def _start_helper(server: Any, *args: str) -> None:
    proc = subprocess.Popen([sys.executable, "-c", _HELPER, str(os.getpid()), *args], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, text=True, errors="replace")
    server.tacit_helpers = [*getattr(server, "tacit_helpers", []), proc]
    threading.Thread(target=_relay_log, args=(proc.stdout, server.log), name=f"tacit-{args[0]}",
                     daemon=True).start()


def _relay_log(lines: IO[str], log: Any) -> None:
    """Each line `LEVEL<TAB>message` of a helper into gunicorn's log (no import happens here)."""
    for line in lines:
        level, _, message = line.rstrip("\n").partition("\t")
        {"ERROR": log.error, "WARNING": log.warning, "DEBUG": log.debug}.get(level, log.info)(message)


class _LineHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        message = self.format(record).replace("\n", " | ")
        sys.stdout.write(f"{record.levelname}\t{message}\n")
        sys.stdout.flush()


def _watch_parent(arbiter: int) -> None:
    """End this helper when the arbiter is gone (killed without its on_exit)."""
    while os.getppid() == arbiter:
        time.sleep(1)
    os._exit(0)


def helper_main(argv: list[str]) -> int:
    """A helper process: `ARBITER_PID ready URL` or `ARBITER_PID metrics HOST PORT READY_URL`."""
    log = logging.getLogger("wiki.gunicorn")
    log.addHandler(_LineHandler())
    log.setLevel(logging.DEBUG)
    log.propagate = False
    arbiter, what, *args = argv
    threading.Thread(target=_watch_parent, args=(int(arbiter),), daemon=True).start()
    if what == "ready":
        _report_readiness(log, args[0])
        return 0
    host, port, ready_url = args
    if not serve_metrics(log, Exposure(ExposureMode.BIND, host, int(port)), ready_url or None):
        return 1
    threading.Event().wait()  # served by prometheus_client's thread until the arbiter ends
    return 0


def readiness_url(server: Any) -> str | None:
    """/-/ready on the arbiter's first TCP listener (a wildcard bind asked on loopback)."""
    prefix = os.environ.get("SCRIPT_NAME", "").rstrip("/")
    for listener in getattr(server, "LISTENERS", []):
        address = listener.sock.getsockname()
        if isinstance(address, tuple):
            host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(address[0], address[0])
            host = f"[{host}]" if ":" in host else host
            return f"http://{host}:{address[1]}{prefix}/-/ready"
    return None


def wait_until_ready(url: str, wait: float = READY_WAIT) -> tuple[StartupState, dict | None]:
    """Ask /-/ready until it says 200 or `wait` seconds pass: the state and the last report."""
    deadline = time.monotonic() + wait
    state, report = StartupState.NO_ANSWER, None
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return StartupState.READY, json.loads(response.read())
        except urllib.error.HTTPError as e:
            try:
                state, report = StartupState.NOT_READY, json.loads(e.read())
            except ValueError:
                state, report = StartupState.NOT_READY, None
        except (OSError, ValueError):
            pass
        if time.monotonic() >= deadline:
            return state, report
        time.sleep(_PAUSE)


def _report_readiness(log: Any, url: str, wait: float = READY_WAIT) -> StartupState:
    state, report = wait_until_ready(url, wait)
    checks = (report or {}).get("checks", {})
    order = ["repository", "database", "search", "meaning"]
    checks = dict(sorted(checks.items(), key=lambda item: order.index(item[0]) if item[0] in order else len(order)))
    if state is StartupState.READY:
        log.info("ready: %s", "; ".join(f"{name}: {c.get('message', '')}" for name, c in checks.items()))
        for name, check in checks.items():
            if check.get("state") == "degraded":
                log.warning("ready, but %s is degraded: %s", name, check.get("message", ""))
    elif state is StartupState.NOT_READY:
        failed = [f"{name}: {c.get('message', '')}" for name, c in checks.items() if c.get("state") == "failed"]
        log.warning("NOT READY after %.0f s (%s answers 503): %s", wait, url, "; ".join(failed) or "no report")
    else:
        log.warning("NOT READY: nothing answered %s within %.0f s (see the workers' errors above)", url, wait)
    return state


class _ReadinessFirst:
    """Asks /-/ready before each scrape of the separate bind, so the index lag gauge is measured then."""

    def __init__(self, url: str | None) -> None:
        self.url = url

    def describe(self) -> list:
        return []

    def collect(self) -> list:
        if self.url:
            try:
                urllib.request.urlopen(self.url, timeout=2).close()
            except (OSError, ValueError):  # 503 included: the lag was measured all the same
                pass
        return []


def serve_metrics(log: Any, exposure: Exposure, ready_url: str | None) -> bool:
    """prometheus_client's HTTP server on the WIKI_METRICS bind (in the metrics helper process),
    adding up the workers' files; whether it listens."""
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    registry.register(_ReadinessFirst(ready_url))
    MultiProcessCollector(registry, path=metrics.multiprocess_folder())
    try:
        start_http_server(exposure.port, addr=exposure.host, registry=registry)
    except OSError as e:
        log.error("metrics are not served: cannot listen on %s:%s (%s)", exposure.host, exposure.port,
                  e.strerror or e)
        return False
    log.info("metrics at http://%s:%s/metrics", exposure.host, exposure.port)
    return True
