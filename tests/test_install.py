"""The wheel, installed as a user would: built from the checkout, installed into a fresh venv in a
folder outside it, and served from there by `wiki serve` and by plain gunicorn.

An editable install reads templates/ and the static files from the checkout, so only this test
sees what the wheel really holds.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.serving import ROOT, free_port


def _run(args: list, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(args, capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    """A wheel built from this checkout (through an sdist, as `python -m build` does), installed
    into a new venv in a temporary folder; the figures go to the test report."""
    tmp = tmp_path_factory.mktemp("install")
    started = time.monotonic()
    _run([sys.executable, "-m", "build", "--outdir", str(tmp / "dist"), str(ROOT)], cwd=tmp)
    built = time.monotonic()
    wheel = next((tmp / "dist").glob("tacit-*.whl"))
    _run([sys.executable, "-m", "venv", str(tmp / "venv")], cwd=tmp)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WIKI_", "PYTHON", "VIRTUAL_ENV"))}
    _run([str(tmp / "venv" / "bin" / "pip"), "install", "-q", str(wheel)], cwd=tmp, env=env)
    figures = {"wheel bytes": wheel.stat().st_size, "build s": round(built - started, 1),
               "install s": round(time.monotonic() - built, 1)}
    print(f"\nwheel install: {figures}")
    return {"tmp": tmp, "wheel": wheel, "bin": tmp / "venv" / "bin", "env": env}


def test_the_wheel_holds_templates_static_files_wsgi_and_license(installed):
    names = set(zipfile.ZipFile(installed["wheel"]).namelist())
    checkout_templates = {p.relative_to(ROOT).as_posix() for p in (ROOT / "templates").rglob("*.html")}
    assert {"wiki/" + t for t in checkout_templates} <= names
    assert {"wiki/static/style.css", "wiki/static/site.js", "wiki/wsgi.py",
            "wiki/core/search/minilm/vocab.txt"} <= names
    assert any(n.endswith("licenses/LICENSE") or n.endswith("/LICENSE") for n in names)
    assert not any(n.startswith(("tests/", "pages_repo/", "instance/")) for n in names)


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=20) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


def _serve(args: list, cwd: Path, env: dict, base: str, log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(base + "/-/static/style.css", timeout=2)
            return proc
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.2)
    proc.terminate()
    pytest.fail("the installed wiki did not start:\n" + log.read_text(errors="replace")[-3000:])


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.wait()


def _assert_serves_a_working_wiki(base: str) -> None:
    status, home = _get(base + "/Home")
    assert status == 200 and "<html" in home.lower() and "Home" in home
    assert 'href="/-/static/style.css' in home or "/-/static/style.css" in home
    status, editor = _get(base + "/-/edit/Home")
    assert status == 200 and "<textarea" in editor and 'name="csrf_token"' in editor
    status, new = _get(base + "/-/edit/Installed/Page")
    assert status == 200 and "<textarea" in new
    for asset in re.findall(r'(?:href|src)="(/-/static/[^"?]+)', home + editor):
        status, body = _get(base + asset)
        assert status == 200 and body, asset
    status, missing = _get(base + "/No/Such/Page")
    assert status == 404 and "No/Such/Page" in missing


def test_wiki_init_and_serve_from_the_installed_wheel(installed, tmp_path):
    work = tmp_path / "site"  # outside the checkout: nothing there to import or read templates from
    work.mkdir()
    env = dict(installed["env"], WIKI_WRITE="anonymous")
    bin_ = installed["bin"]
    out = _run([str(bin_ / "wiki"), "init"], cwd=work, env=env).stdout
    assert "Created the wiki repository" in out and (work / "pages_repo" / "HEAD").exists()
    where = _run([str(bin_ / "python"), "-c", "import wiki; print(wiki.__file__, wiki.templates_folder())"],
                 cwd=work, env=env).stdout
    assert str(ROOT) not in where and "site-packages" in where

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _serve([str(bin_ / "wiki"), "serve", "--port", str(port), "--workers", "2"], work, env, base,
                  tmp_path / "serve.log")
    try:
        _assert_serves_a_working_wiki(base)
    finally:
        _stop(proc)


def test_plain_gunicorn_serves_the_installed_package(installed, tmp_path):
    work = tmp_path / "site"
    work.mkdir()
    env = dict(installed["env"], WIKI_WRITE="anonymous", WIKI_REPO=str(work / "repo"), WIKI_DATA=str(work / "data"))
    _run([str(installed["bin"] / "wiki"), "init"], cwd=work, env=env)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _serve([str(installed["bin"] / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "2",
                   "wiki:create_app()"], work, env, base, tmp_path / "gunicorn.log")
    try:
        _assert_serves_a_working_wiki(base)
    finally:
        _stop(proc)
