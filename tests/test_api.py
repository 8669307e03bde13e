"""The JSON API: names and statuses other parts rely on."""

from .conftest import git


def test_put_creates_then_saves_then_merges(client, app):
    r = client.put("/-/api/v1/pages/Team/Plan", json={"markdown": "a\nb\nc\nd\ne\n", "message": "plan"})
    assert r.status_code == 201
    body = r.get_json()
    assert body["status"] == "created" and body["merged"] is False and len(body["revision"]) == 40
    base = body["revision"]
    r = client.put("/-/api/v1/pages/Team/Plan", json={"markdown": "A\nb\nc\nd\ne\n", "base": base})
    assert r.status_code == 200 and r.get_json()["status"] == "saved"
    r = client.put("/-/api/v1/pages/Team/Plan", json={"markdown": "a\nb\nc\nd\nE\n", "base": base})
    assert r.status_code == 200 and r.get_json()["merged"] is True
    got = client.get("/-/api/v1/pages/Team/Plan").get_json()
    assert got["markdown"] == "A\nb\nc\nd\nE\n"
    assert set(got) >= {"path", "title", "markdown", "html", "revision", "updated", "author"}
    assert got["revision"] == git(app.config["WIKI_REPO"], "rev-parse", "main").strip()


def test_put_conflict_returns_both_texts(client):
    base = client.put("/-/api/v1/pages/P", json={"markdown": "one\n"}).get_json()["revision"]
    client.put("/-/api/v1/pages/P", json={"markdown": "two\n", "base": base})
    r = client.put("/-/api/v1/pages/P", json={"markdown": "three\n", "base": base})
    assert r.status_code == 409
    body = r.get_json()
    assert body["error"] == "conflict" and body["current"] == "two\n" and body["yours"] == "three\n"
    assert len(body["revision"]) == 40


def test_put_without_base_only_creates(client):
    first = client.put("/-/api/v1/pages/Only", json={"markdown": "x"}).get_json()
    r = client.put("/-/api/v1/pages/Only", json={"markdown": "y"})
    assert r.status_code == 409 and r.get_json()["revision"] == first["revision"]


def test_get_old_revision_and_list(client):
    first = client.put("/-/api/v1/pages/V", json={"markdown": "v1"}).get_json()["revision"]
    client.put("/-/api/v1/pages/V", json={"markdown": "v2", "base": first})
    assert client.get(f"/-/api/v1/pages/V?rev={first}").get_json()["markdown"] == "v1\n"
    pages = client.get("/-/api/v1/pages").get_json()["pages"]
    entry = next(p for p in pages if p["path"] == "V")
    assert entry["revision"] and entry["author"]["name"] == "Anonymous"
    assert {p["path"] for p in pages} == {"Home", "V", "Templates/Weekly status", "Templates/Decision record"}


def test_delete_and_move(client):
    rev = client.put("/-/api/v1/pages/M", json={"markdown": "m"}).get_json()["revision"]
    r = client.post("/-/api/v1/pages/M/move", json={"to": "N/M2"})
    assert r.status_code == 200 and r.get_json()["path"] == "N/M2"
    assert client.get("/-/api/v1/pages/M").status_code == 404
    stale = client.delete(f"/-/api/v1/pages/N/M2?base={rev}")
    assert stale.status_code == 409  # at that base the page had another name: the client has not seen it
    current = client.get("/-/api/v1/pages/N/M2").get_json()["commit"]
    assert client.delete(f"/-/api/v1/pages/N/M2?base={current}").status_code == 200
    assert client.delete("/-/api/v1/pages/N/M2").status_code == 404


def test_delete_with_stale_base_conflicts(client):
    rev = client.put("/-/api/v1/pages/D", json={"markdown": "1"}).get_json()["revision"]
    client.put("/-/api/v1/pages/D", json={"markdown": "2", "base": rev})
    assert client.delete(f"/-/api/v1/pages/D?base={rev}").status_code == 409


def test_errors_are_json(client):
    cases = [
        (client.put("/-/api/v1/pages/X", data="markdown", content_type="text/plain"), 415),
        (client.put("/-/api/v1/pages/X", json=["list"]), 400),
        (client.put("/-/api/v1/pages/X", json={"markdown": 5}), 400),
        (client.put("/-/api/v1/pages/X", json={}), 400),
        (client.put("/-/api/v1/pages/..%2Fx", json={"markdown": "x"}), 400),
        (client.put("/-/api/v1/pages/X", json={"markdown": "x", "base": "nope"}), 400),
        (client.get("/-/api/v1/pages/Nope"), 404),
        (client.get("/-/api/v1/nothing"), 404),
        (client.post("/-/api/v1/pages/Home/move", json={"to": "a:b"}), 400),
        (client.get("/-/api/v1/pages/Home?rev=deadbeef"), 404),
    ]
    for response, status in cases:
        assert response.status_code == status, (response.status_code, response.data)
        body = response.get_json()
        assert set(body) >= {"error", "detail"}, body


def test_text_that_is_not_unicode_is_a_400_not_a_500(client):
    """JSON can escape a lone surrogate, which is no character: refused whichever field holds it."""
    cases = [
        ("PUT", "/-/api/v1/pages/S", {"markdown": "x", "message": "\ud800"}),
        ("PUT", "/-/api/v1/pages/S", {"markdown": "x", "meta": {"title": "\udfff"}}),
        ("POST", "/-/api/v1/folders/Templates/move", {"to": "Forms", "message": "\ud800"}),
        ("POST", "/-/api/v1/pages/Home/move", {"to": "\ud800"}),
    ]
    for method, url, body in cases:
        r = client.open(url, method=method, json=body)
        assert r.status_code == 400 and "Unicode" in r.get_json()["detail"], (url, body, r.data)
    assert client.get("/-/api/v1/pages/S").status_code == 404


def test_a_nul_in_a_message_never_cuts_it(client, app):
    """git's log is read NUL-separated: a NUL would end the message there (and the rest could pass
    for another record), so it is dropped."""
    assert client.put("/-/api/v1/pages/N", json={"markdown": "x", "message": "one\u0000two"}).status_code == 201
    assert git(app.config["WIKI_REPO"], "log", "-1", "--format=%B").strip() == "onetwo"
    assert client.get("/-/api/v1/pages/N/history").get_json()[0]["message"] == "onetwo"
    assert client.get("/-/api/v1/recent?limit=1").get_json()[0]["message"] == "onetwo"
