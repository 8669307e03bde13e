"""The OpenAPI document of the JSON API: it names every route and only routes, and a live server
keeps to it under schemathesis (no 5xx, every status, content type, body and header documented)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

import schemathesis

from .serving import ROOT, WikiServer

DOCUMENT = "/-/api/v1/openapi.json"
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_schema_conformance,response_headers_conformance")


def api_routes(app) -> set[tuple[str, str]]:
    """(path in OpenAPI form below the API prefix, method) of every route of the API blueprint."""
    prefix = app.blueprints["api"].url_prefix
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api."):
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix(prefix))
            routes |= {(path, method) for method in rule.methods - {"HEAD", "OPTIONS"}}
    return routes


def described(document: dict) -> set[tuple[str, str]]:
    return {(path, method.upper()) for path, item in document["paths"].items() for method in item
            if method in HTTP_METHODS}


def test_the_document_describes_every_api_route_and_nothing_else(client, app):
    r = client.get(DOCUMENT)
    assert r.status_code == 200 and r.mimetype == "application/json"
    document = r.get_json()
    routes = api_routes(app)
    assert len(routes) >= 27
    assert routes - described(document) == set(), "describe these routes in wiki/web/openapi.yaml"
    assert described(document) - routes == set(), "these are not routes of the API"
    for path, item in document["paths"].items():  # every placeholder is a declared path parameter
        declared = {p["name"] if "name" in p else p["$ref"].rsplit("/", 1)[1] for p in item.get("parameters", [])}
        assert declared == set(re.findall(r"{(\w+)}", path)), path
    ids = [op["operationId"] for item in document["paths"].values() for m, op in item.items() if m in HTTP_METHODS]
    assert len(ids) == len(set(ids))


def test_the_document_is_valid_openapi_3_1(client):
    document = client.get(DOCUMENT).get_json()
    assert document["openapi"].startswith("3.1")
    schemathesis.openapi.from_dict(document).validate()  # against the OpenAPI 3.1 schema
    assert document["servers"] == [{"url": "/-/api/v1"}]


def test_the_server_url_follows_the_prefix_the_wiki_is_served_under(client):
    document = client.get(DOCUMENT, base_url="http://localhost/wiki/").get_json()
    assert document["servers"] == [{"url": "/wiki/-/api/v1"}]


# -- the live server against the document ------------------------------------------------------

def _seed(server: WikiServer, token: str) -> dict[str, list[str]]:
    """Pages with history, front matter, a thread with a reply and a file: what exists when the run
    starts (the hooks in openapi_hooks.py mix these names into the generated requests)."""
    def ok(status_body: tuple[int, dict]) -> dict:
        status, body = status_body
        assert status in (200, 201), body
        return body

    first = ok(server.request("PUT", "/-/api/v1/pages/Guide", {
        "markdown": "---\nstatus: on-track\ntags: [guide]\nreview_every: 7d\n---\n# Guide\n\nStep one.\n"},
        token))["revision"]
    second = ok(server.request("PUT", "/-/api/v1/pages/Guide", {
        "markdown": "---\nstatus: at-risk\ntags: [guide]\nowner: Ada\n---\n# Guide\n\nStep one.\nStep two, [[Notes]].\n",
        "base": first}, token))["revision"]
    ok(server.request("PUT", "/-/api/v1/pages/Guide/Setup", {"markdown": "Setup of the [[Guide]].\n"}, token))
    ok(server.request("PUT", "/-/api/v1/pages/Notes", {"markdown": "Some notes.\n"}, token))
    thread = ok(server.request("POST", "/-/api/v1/pages/Guide/talk", {
        "title": "Step two?", "body": "Is it current?", "quote": "Step two", "revision": second}, token))["id"]
    comment = ok(server.request("POST", f"/-/api/v1/pages/Guide/talk/{thread}/comments",
                                {"body": "Yes, @Ada checked it."}, token))["id"]
    files = ["diagram.png", "Übersicht 图.png"]  # a name beyond ASCII: gunicorn takes only ASCII headers
    for name in files:
        url = f"{server.base}/-/api/v1/pages/Guide/files/{quote(name)}"
        auth = {"Authorization": f"Bearer {token}"}
        upload = urllib.request.Request(url, data=b"\x89PNG\r\n\x1a\n" + bytes(64), method="PUT", headers=auth)
        with urllib.request.urlopen(upload, timeout=60) as r:
            assert r.status == 201
        with urllib.request.urlopen(urllib.request.Request(url, headers=auth), timeout=60) as r:
            assert r.status == 200 and r.headers["Content-Disposition"].startswith("inline")
    return {"page": ["Home", "Guide", "Guide/Setup", "Notes"], "folder": ["Guide"], "thread": [thread],
            "comment": [thread, comment], "file": files, "rev": [first, second],
            "base": [first, second], "from": [first], "to": [second], "q": ["guide", "step"],
            "cursor": ["1"]}


def _schemathesis(server: WikiServer, tmp: Path, name: str, known: dict, *options: str) -> dict:
    """One `st run` against the live server; returns its JSON report. --max-time bounds each run's
    wall time (schemathesis repeats its phases within it), so a busy machine runs fewer cases
    rather than longer. One worker: CPython 3.11's ast.parse, which hypothesis calls to describe
    a filter, is not thread-safe ("AST constructor recursion depth mismatch")."""
    report, config = tmp / f"{name}.json", tmp / "schemathesis.toml"
    config.write_text("[phases.stateful]\nmax-steps = 50\n")
    st = Path(sys.executable).with_name("st")
    command = [str(st), "--config-file", str(config), "run", server.base + DOCUMENT, "--checks", CHECKS,
               "--workers", "1", "--no-color", "--output-truncate", "false", "--generation-database", "none",
               "--report", "json", "--report-json-path", str(report), *options]
    env = dict(os.environ, SCHEMATHESIS_HOOKS="tests.openapi_hooks", TACIT_OPENAPI_KNOWN=json.dumps(known),
               PYTHONPATH=str(ROOT))
    run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    result = json.loads(report.read_text()) if report.exists() else {}
    problems = result.get("failures") or result.get("errors") or run.returncode
    assert not problems, run.stdout[-20000:] + run.stderr[-5000:] + "\n" + server.log.read_text()[-5000:]
    return result


def test_a_live_server_keeps_to_the_document(tmp_path):
    """Every operation with an admin's token (examples, coverage, fuzzing, stateful), then with a
    reader's token (the 403s) and without credentials (the 401s and their Bearer challenge).
    Meaning search is off: the model's start would cost more than the run, and its answers take
    the same path as the word search's."""
    server = WikiServer(tmp_path, workers=2, WIKI_SEMANTIC="0")
    admin_token = server.add_user("Ada", "password-ada-123", role="admin")
    reader_token = server.add_user("Rita", "password-rita-123", role="reader")
    with server:
        known = _seed(server, admin_token)
        started = time.monotonic()
        runs = {
            "admin": _schemathesis(server, tmp_path, "admin", known, "-H", f"Authorization: Bearer {admin_token}",
                                   "--max-examples", "15", "--max-time", "40"),
            "reader": _schemathesis(server, tmp_path, "reader", known, "-H", f"Authorization: Bearer {reader_token}",
                                    "--max-examples", "5", "--max-time", "8", "--phases", "examples,fuzzing"),
            "anonymous": _schemathesis(server, tmp_path, "anonymous", known, "--max-examples", "5",
                                       "--max-time", "10", "--phases", "examples,coverage,fuzzing"),
        }
        took = time.monotonic() - started
    cases = {name: run["test_cases"]["generated"] for name, run in runs.items()}
    print(f"\nschemathesis: {sum(cases.values())} test cases {cases} in {took:.0f} s")
    assert all(run["operations"]["tested"] == run["operations"]["total"] for run in runs.values())
    assert cases["admin"] >= 500
