"""The meaning service: one process per user and model holds the embedding model and the passage
matrices, and every web worker, rebuild and command asks it over a local socket.

The model costs about 160 MB once loaded (onnxruntime keeps its weights unpacked) and a big
wiki's passage matrix tens of MB more; held in each gunicorn worker, that would multiply by
the workers. The service starts on the first request that needs it (under a lock, so only one
starts), listens on a Linux abstract socket (nothing on disk to go stale; other users are
refused by their peer credentials) and exits after a quiet spell (WIKI_SEMANTIC_IDLE seconds,
default 1800). A client that cannot reach it answers "no meaning" and search ranks by words.

    python -m wiki.core.search.meaning [SETTINGS]  # what the clients start (as an import, see _SERVICE);
                                                   # SETTINGS: SemanticSettings.to_argument()
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import socketserver
import stat
import struct
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from enum import Enum
from pathlib import Path

from . import semantic
from ...logconfig import child_environment
from .engine import visible

log = logging.getLogger("wiki.core.search.meaning")  # by name: also when run as __main__

_HEADER = struct.Struct("!I")
_MAX_REQUEST = 64 << 20
_STORES = 8  # passage matrices of this many wikis are kept (a test run opens hundreds)
_RETRY_AFTER = 30.0  # seconds a client waits before starting a service that failed to come up again


def _code_stamp() -> str:
    """The service's code as installed: an upgrade gets a service of its own (the old one idles out)."""
    here = Path(__file__).parent
    return ",".join(str((here / f).stat().st_mtime_ns) for f in ("meaning.py", "semantic.py", "vectors.py"))


_CODE = _code_stamp()  # of the code this process runs


def _address(settings: semantic.SemanticSettings) -> str | None:
    """The socket name for this user, model and code, or None when there is no model."""
    model = semantic.model_file(settings)
    if model is None:
        return None
    key = hashlib.sha256(f"{os.getuid()}:{model.resolve()}:{_CODE}".encode()).hexdigest()[:16]
    return f"\0tacit-meaning-{key}"


# -- wire format: a 4-byte length, a JSON header, then an optional float32 payload -----------------
def _send(conn: socket.socket, header: dict, payload: bytes = b"") -> None:
    head = json.dumps(header).encode()
    conn.sendall(_HEADER.pack(len(head)) + head + _HEADER.pack(len(payload)) + payload)


def _receive_exactly(conn: socket.socket, size: int) -> bytes:
    chunks, got = [], 0
    while got < size:
        chunk = conn.recv(min(size - got, 1 << 20))
        if not chunk:
            raise ConnectionError("the other side closed the connection")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _receive(conn: socket.socket) -> tuple[dict, bytes]:
    (size,) = _HEADER.unpack(_receive_exactly(conn, _HEADER.size))
    if size > _MAX_REQUEST:
        raise ValueError("message too large")
    header = json.loads(_receive_exactly(conn, size))
    (size,) = _HEADER.unpack(_receive_exactly(conn, _HEADER.size))
    if size > _MAX_REQUEST:
        raise ValueError("message too large")
    return header, _receive_exactly(conn, size)


# -- the service -------------------------------------------------------------------------------
class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        conn: socket.socket = self.request
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        if struct.unpack("3i", creds)[1] != os.getuid():
            return
        service: _Service = self.server.service  # type: ignore[attr-defined]
        while True:
            try:
                header, _ = _receive(conn)
            except (ConnectionError, ValueError, OSError):
                return
            service.touch()
            try:
                reply, payload = service.answer(header)
            except Exception as e:  # noqa: BLE001 (a bad request or index: the client words-only)
                log.exception("meaning service request failed")
                reply, payload = {"error": str(e)}, b""
            try:
                _send(conn, reply, payload)
            except OSError:
                return


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class _Service:
    def __init__(self, embedder: semantic.Embedder) -> None:
        self.embedder = embedder
        self.stores: OrderedDict[str, object] = OrderedDict()
        self.lock = threading.Lock()
        self.last = time.monotonic()

    def touch(self) -> None:
        self.last = time.monotonic()

    def store(self, root: str):
        from .vectors import VectorStore

        with self.lock:
            store = self.stores.pop(root, None) or VectorStore(Path(root))
            self.stores[root] = store
            while len(self.stores) > _STORES:
                self.stores.popitem(last=False)
            return store

    def answer(self, header: dict) -> tuple[dict, bytes]:
        op = header.get("op")
        if op == "ping":
            return {"ok": True, "pid": os.getpid()}, b""
        if op == "stop":
            self.last = float("-inf")  # the idle watch ends the service
            return {"ok": True}, b""
        if op == "embed":
            texts = [str(t) for t in header["texts"]]
            vectors = self.embedder.embed_many(texts)
            if len(texts) > 64:
                _give_back_memory()
            return {"n": len(texts)}, vectors.tobytes()
        if op == "near":
            vector = self.embedder.embed([str(header["text"])])[0]
            keep = visible([str(h) for h in header.get("hidden", [])])
            found = self.store(str(header["root"])).near(vector, int(header.get("limit", 50)), keep)
            return {"near": found}, b""
        raise ValueError(f"unknown request {op!r}")


def _give_back_memory() -> None:
    """Return freed heap to the system after a big batch (glibc keeps it otherwise; a rebuild
    left the service at 560 MB instead of about 300)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def serve(settings: semantic.SemanticSettings) -> int:
    idle = settings.idle
    address = _address(settings)
    embedder = semantic.load(settings, bulk=True)
    if address is None or embedder is None:
        log.error("meaning service not started: no model (WIKI_SEMANTIC off, or no model file that loads)")
        return 1
    try:
        server = _Server(address, _Handler)
    except OSError:  # another service answers already
        return 0
    server.service = _Service(embedder)  # type: ignore[attr-defined]
    log.info("meaning service ready: model %s, exits after %.0f s of quiet", semantic.model_file(settings), idle)

    def watch() -> None:
        while time.monotonic() - server.service.last < idle:  # type: ignore[attr-defined]
            time.sleep(min(idle, 0.2))
        server.shutdown()

    threading.Thread(target=watch, daemon=True).start()
    server.serve_forever(poll_interval=0.5)
    server.server_close()
    log.info("meaning service stopped")
    return 0


# -- the client ----------------------------------------------------------------------------------
def _stderr_is_pipe() -> bool:
    try:
        return stat.S_ISFIFO(os.fstat(2).st_mode)
    except OSError:
        return False


def _relay(stream) -> None:
    """Copy the service's log lines to this process's stderr while this process lives."""
    with stream:
        for line in iter(stream.readline, b""):
            try:
                os.write(2, line)
            except OSError:
                return


class MeaningState(Enum):
    OFF = "off"  # WIKI_SEMANTIC=0, or no model: search ranks by words
    ANSWERING = "answering"
    NOT_RUNNING = "not running"  # idle or never asked: the next question that needs it starts it
    NOT_ANSWERING = "not answering"  # running, but no answer in time


class MeaningClient:
    """Asks the service; starts it when it is not there. Every failure is "no answer" (None)."""

    def __init__(self, settings: semantic.SemanticSettings = semantic.SemanticSettings()) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._started_at = 0.0
        self._process: subprocess.Popen | None = None

    def available(self) -> bool:
        return _address(self.settings) is not None

    def _call(self, header: dict, wait: float, answer_within: float = 60.0) -> tuple[dict, bytes] | None:
        """Ask the service (started if none listens, waiting at most `wait` s for it to come up);
        None when it cannot answer, or does not within `answer_within` s."""
        address = _address(self.settings)
        if address is None:
            return None
        deadline = time.monotonic() + wait
        while True:
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                    conn.settimeout(max(answer_within, wait))
                    conn.connect(address)
                    _send(conn, header)
                    reply, payload = _receive(conn)
                return (reply, payload) if "error" not in reply else None
            except (ConnectionRefusedError, FileNotFoundError):
                self._start()
                if self._process is not None and self._process.poll() is not None:
                    return None  # the service this client started has ended: it cannot load the model
            except ConnectionError as e:  # a broken pipe or reset: the service went away mid-request
                log.debug("meaning service went away: %s", e)  # (stopped, or ending with its session)
                return None
            except (OSError, ValueError) as e:
                log.warning("meaning service: %s", e)
                return None
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.05)

    def _start(self) -> None:
        with self._lock:
            now = time.monotonic()
            if now - self._started_at < _RETRY_AFTER:
                return
            self._started_at = now
        # The service logs to this process's stderr (the server's log), and inherits its format. A
        # pipe is relayed instead: its reader may wait for its end, which a service would put off.
        relay = _stderr_is_pipe()
        self._process = subprocess.Popen([sys.executable, "-c", _SERVICE, self.settings.to_argument()],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE if relay else 2,
                         stderr=subprocess.STDOUT if relay else None, env=child_environment(),
                         start_new_session=True, cwd=str(Path(__file__).resolve().parents[3]))
        if relay:
            threading.Thread(target=_relay, args=(self._process.stdout,), name="meaning-log", daemon=True).start()

    def start(self) -> None:
        """Start the service if none listens, without waiting for it: a worker's start must not
        wait for a model to load, nor for a busy service to answer."""
        address = _address(self.settings)
        if address is None:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.settimeout(1)
                conn.connect(address)
        except (ConnectionRefusedError, FileNotFoundError):
            self._start()
        except OSError:
            pass  # something listens: a service that is busy is still a service

    def ready(self, wait: float = 0.0) -> bool:
        """Whether the service answers (started if it is not running), waiting at most `wait` s."""
        return self._call({"op": "ping"}, wait) is not None

    def state(self, wait: float = 0.5) -> "MeaningState":
        """Whether the service answers, asked within `wait` s and never started: a readiness probe
        must not load a model."""
        address = _address(self.settings)
        if address is None:
            return MeaningState.OFF
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.settimeout(wait)
                conn.connect(address)
                _send(conn, {"op": "ping"})
                reply, _ = _receive(conn)
        except (ConnectionRefusedError, FileNotFoundError):
            return MeaningState.NOT_RUNNING
        except (OSError, ValueError):  # a timeout too
            return MeaningState.NOT_ANSWERING
        return MeaningState.ANSWERING if reply.get("ok") else MeaningState.NOT_ANSWERING

    def stop(self) -> bool:
        """Ask a running service to exit (none is started); whether one was running."""
        address = _address(self.settings)
        if address is None:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.settimeout(5)
                conn.connect(address)
                _send(conn, {"op": "stop"})
                _receive(conn)
            return True
        except OSError:
            return False

    def embed(self, texts: list[str], wait: float = 30.0):
        """Unit vectors for the texts (a numpy array), or None without the service."""
        import numpy as np

        if not texts:
            return np.zeros((0, semantic.DIMENSIONS), np.float32)
        answer = self._call({"op": "embed", "texts": texts}, wait)
        if answer is None:
            return None
        return np.frombuffer(answer[1], dtype=np.float32).reshape(len(texts), semantic.DIMENSIONS)

    def near(self, root: Path, text: str, limit: int, hidden: list[str],
             wait: float = 2.0) -> list[tuple[str, float, int]]:
        """The pages of the semantic index at `root` nearest to a question (none without the service)."""
        answer = self._call({"op": "near", "root": str(root), "text": text, "limit": limit,
                             "hidden": hidden}, wait, answer_within=10.0)  # a reader waits: words answer alone
        return [(p, float(s), int(i)) for p, s, i in answer[0]["near"]] if answer else []


def main(argv: list[str]) -> int:
    """The service's process: logs in the format and level of the process that started it."""
    from ...logconfig import install

    install()
    return serve(semantic.SemanticSettings.from_argument(argv[0]) if argv else semantic.SemanticSettings())


# what the clients start: an import, not `-m`, which would run this module a second time as
# __main__ beside the copy its package imports (and say so on stderr)
_SERVICE = "import sys; from wiki.core.search.meaning import main; sys.exit(main(sys.argv[1:]))"

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
