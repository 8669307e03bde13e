"""The tldr-pages corpus (7,425 pages, 13,401 commits) opens and serves as it is."""

import subprocess

import pytest


@pytest.fixture(scope="module")
def tldr_client(tldr_repo, tmp_path_factory):
    # These tests serve pages; two CPU-minutes of embedding 39,536 passages in the background would
    # only slow the rest of the run (bench/search.py measures search on this corpus).
    with pytest.MonkeyPatch.context() as env:
        env.setenv("WIKI_SEMANTIC", "0")
        yield _tldr_client(tldr_repo, tmp_path_factory)


def _tldr_client(tldr_repo, tmp_path_factory):
    from wiki import create_app

    tmp = tmp_path_factory.mktemp("tldr-app")
    clone = tmp / "wiki.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(tldr_repo), str(clone)], check=True)
    app = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False,
                      "WIKI_REPO": str(clone), "WIKI_DATA": str(tmp / "data"),
                      "WIKI_WRITE": "anonymous"})
    return app.test_client()


def test_pages_with_awkward_names_are_served(tldr_client):
    assert b"tar" in tldr_client.get("/common/tar").data
    assert tldr_client.get("/common/%5B").status_code == 200
    assert tldr_client.get("/common/%25").status_code == 200
    dot = tldr_client.get("/-/view?page=common/.")
    assert dot.status_code == 200 and b"/-/edit?page=common%2F." in dot.data
    assert tldr_client.get("/-/raw?page=common/.").status_code == 200


def test_page_list_and_api_cover_every_page(tldr_client):
    pages = tldr_client.get("/-/api/v1/pages").get_json()["pages"]
    assert len(pages) == 7425
    assert all(p["revision"] and p["author"] for p in pages)
    listing = tldr_client.get("/-/pages/common")
    assert listing.status_code == 200 and listing.data.count(b'class="leaf"') > 4000


def test_a_sample_of_pages_renders(tldr_client):
    pages = tldr_client.get("/-/api/v1/pages").get_json()["pages"]
    for entry in pages[::97]:
        r = tldr_client.get("/-/api/v1/pages/" + __import__("urllib.parse").parse.quote(entry["path"]))
        assert r.status_code == 200, entry["path"]
        assert r.get_json()["html"].strip()


def test_save_on_the_corpus_is_one_commit(tldr_client):
    page = tldr_client.get("/-/api/v1/pages/linux/apt").get_json()
    r = tldr_client.put("/-/api/v1/pages/linux/apt", json={"markdown": page["markdown"] + "\nA note.\n",
                                                           "base": page["commit"], "message": "note"})
    assert r.status_code == 200
    again = tldr_client.get("/-/api/v1/pages/linux/apt").get_json()
    assert again["revision"] == r.get_json()["commit"] and again["markdown"].endswith("A note.\n")
