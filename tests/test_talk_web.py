"""Talk threads on the web and in the JSON API: reading, commenting, moderation, quotes, safety."""

import json
import re
from html import unescape
from html.parser import HTMLParser

import pytest

from wiki.core.gitrepo import Person

from .conftest import TEAM_PASSWORD, client_for, git, team_app

PASSWORD = TEAM_PASSWORD
ADA = Person("Ada", "ada@example.org")


@pytest.fixture
def make_app(tmp_path):
    def make(csrf: bool = False, **settings):
        app = team_app(tmp_path, [("Ada", "admin"), ("Bob", "editor"), ("Rita", "reader"), ("Carl", "reader")],
                       csrf, **settings)
        app.extensions["tacit"].pages.save("Doc", "# Doc\n\nThe vendor contract is late.\n\nOther text.\n", ADA)
        return app
    return make


@pytest.fixture
def app(make_app):
    return make_app()


def commits(app) -> int:
    return int(git(app.config["WIKI_REPO"], "rev-list", "--count", "main").strip())


def start(client, page="Doc", title="Late contract", body="What do we do?", **extra) -> str:
    r = client.post(f"/-/talk/{page}", data={"title": title, "body": body, **extra})
    assert r.status_code == 302, r.data[:500]
    return re.search(r"[?&]thread=([\w-]+)", r.headers["Location"]).group(1)


def reply(client, thread, body, reply_to=None, page="Doc") -> str:
    data = {"body": body, **({"reply_to": reply_to} if reply_to else {})}
    r = client.post(f"/-/talk/{page}?thread={thread}", data=data)
    assert r.status_code == 302, r.data[:500]
    return r.headers["Location"].rsplit("#c-", 1)[1]


def comment_block(html: str, comment: str) -> str:
    """The <li> of one comment in a thread page."""
    start_at = html.index(f'id="c-{comment}"')
    end = html.find('<li class="comment', start_at)
    return html[start_at: end if end > 0 else len(html)]


def depth(html: str, comment: str) -> int:
    return int(re.search(rf'id="c-{comment}" style="--depth: (\d+)"', html).group(1))


# -- reading and writing -------------------------------------------------------------

def test_start_a_thread_reply_nested_and_see_counts_on_the_page(app):
    rita, bob = client_for(app, "Rita"), client_for(app, "Bob")
    thread = start(rita, title="Late contract", body="What do **we** do?")
    first = reply(bob, thread, "Call them.", reply_to=thread)
    second = reply(rita, thread, "Done, they answered.", reply_to=first)
    third = reply(bob, thread, "A new point, at the top level.")

    html = rita.get(f"/-/talk/Doc?thread={thread}").data.decode()
    assert "<h1" in html and "Late contract" in html
    assert "What do <strong>we</strong> do?" in html
    assert depth(html, thread) == 0 and depth(html, first) == 1 and depth(html, second) == 2
    assert depth(html, third) == 0
    assert html.index(f'id="c-{first}"') < html.index(f'id="c-{second}"') < html.index(f'id="c-{third}"')
    block = comment_block(html, first)
    assert "Bob" in block and f'href="#c-{first}"' in block
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ" title="[^"]+ UTC">just now</time>', block)
    assert f'name="reply_to" value="{first}"' in block  # a reply form under each comment
    assert "3 replies" in html

    listing = rita.get("/-/talk/Doc").data.decode()
    assert "Late contract" in listing and "3 replies" in listing and "Rita" in listing
    assert 'tag-open' in listing and "1 open thread" in listing
    assert "Markdown and <code>[[wiki links]]</code> work" in listing
    assert all(f"<code>{tag}</code>" in listing for tag in
               ("a", "abbr", "b", "blockquote", "cite", "code", "del", "em", "i", "q", "s", "strong"))

    page = rita.get("/Doc").data.decode()
    assert 'href="/-/talk/Doc"' in page
    assert "1 open thread</a>" in page and 'class="count-badge">1<' in page
    start(bob, title="Second topic")
    bob.post(f"/-/talk-status/Doc?thread={thread}", data={"status": "resolved"})
    page = rita.get("/Doc").data.decode()
    assert "1 open thread, 1 resolved" in page


def test_resolved_threads_fold_away_but_stay_listed_newest_activity_first(app):
    rita = client_for(app, "Rita")
    old = start(rita, title="Old topic")
    done = start(rita, title="Finished topic")
    new = start(rita, title="New topic")
    rita.post(f"/-/talk-status/Doc?thread={done}", data={"status": "resolved"})
    reply(rita, old, "bumped")  # now the newest activity among the open ones
    html = rita.get("/-/talk/Doc").data.decode()
    folded = html[html.index('<details class="resolved-threads">'):]
    assert "1 resolved thread</summary>" in folded and "Finished topic" in folded
    open_part = html[:html.index('<details class="resolved-threads">')]
    assert "Finished topic" not in open_part
    assert open_part.index("Old topic") < open_part.index("New topic")
    assert "2 open threads" in html and new and old


def test_edit_marks_the_comment_edited_with_its_earlier_versions(app):
    rita, carl, ada = client_for(app, "Rita"), client_for(app, "Carl"), client_for(app, "Ada")
    thread = start(rita, body="First wording.")
    form = rita.get(f"/-/talk/Doc?thread={thread}&edit={thread}").data.decode()
    assert "<textarea" in form and "First wording.</textarea>" in form
    assert carl.get(f"/-/talk/Doc?thread={thread}&edit={thread}").status_code == 403

    before = commits(app)
    r = rita.post(f"/-/talk-edit/Doc?thread={thread}&comment={thread}", data={"body": "Second wording."})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"#c-{thread}")
    assert commits(app) == before + 1
    html = rita.get(f"/-/talk/Doc?thread={thread}").data.decode()
    block = comment_block(html, thread)
    assert "Second wording." in block and "First wording." not in block
    history_link = re.search(r'<a class="edited" href="([^"]+)"', block).group(1)
    history = rita.get(unescape(history_link)).data.decode()
    assert "Second wording." in history and "First wording." in history
    assert history.index("Second wording.") < history.index("First wording.")  # newest first

    assert carl.post(f"/-/talk-edit/Doc?thread={thread}&comment={thread}", data={"body": "Mine now"}).status_code == 403
    moderated = ada.post(f"/-/talk-edit/Doc?thread={thread}&comment={thread}", data={"body": "Moderated."})
    assert moderated.status_code == 302
    assert "Moderated." in rita.get(f"/-/talk/Doc?thread={thread}").data.decode()

    empty = rita.post(f"/-/talk-edit/Doc?thread={thread}&comment={thread}", data={"body": "  "})
    assert empty.status_code == 400
    assert "A comment cannot be empty." in empty.data.decode() and "<textarea" in empty.data.decode()


def test_delete_leaves_a_placeholder_and_keeps_replies_in_place(app):
    rita, bob, carl = client_for(app, "Rita"), client_for(app, "Bob"), client_for(app, "Carl")
    thread = start(rita)
    middle = reply(bob, thread, "Secret middle words", reply_to=thread)
    below = reply(rita, thread, "Answer below", reply_to=middle)
    assert carl.post(f"/-/talk-delete/Doc?thread={thread}&comment={middle}").status_code == 403
    r = bob.post(f"/-/talk-delete/Doc?thread={thread}&comment={middle}")
    assert r.status_code == 302
    html = rita.get(f"/-/talk/Doc?thread={thread}").data.decode()
    assert "Secret middle words" not in html
    assert "Comment deleted" in comment_block(html, middle)
    assert depth(html, middle) == 1 and depth(html, below) == 2 and "Answer below" in html
    assert rita.get(f"/-/talk-history/Doc?thread={thread}&comment={middle}").status_code == 404
    assert bob.post(f"/-/talk-delete/Doc?thread={thread}&comment={middle}").status_code == 400  # already
    # an admin may delete anyone's comment, and is named as the one who did
    ada = client_for(app, "Ada")
    assert ada.post(f"/-/talk-delete/Doc?thread={thread}&comment={below}").status_code == 302
    assert "Comment deleted by a moderator" in rita.get(f"/-/talk/Doc?thread={thread}").data.decode()


def test_resolve_and_reopen_by_author_editors_and_admins_only(app):
    rita, carl = client_for(app, "Rita"), client_for(app, "Carl")
    bob, ada = client_for(app, "Bob"), client_for(app, "Ada")
    thread = start(rita)
    url = f"/-/talk-status/Doc?thread={thread}"

    def status() -> str:
        return app.extensions["tacit"].talk.thread("Doc", thread).status

    assert "Resolve</button>" not in carl.get(f"/-/talk/Doc?thread={thread}").data.decode()
    assert carl.post(url, data={"status": "resolved"}).status_code == 403 and status() == "open"
    assert "Resolve</button>" in rita.get(f"/-/talk/Doc?thread={thread}").data.decode()
    assert rita.post(url, data={"status": "resolved"}).status_code == 302 and status() == "resolved"
    assert "Reopen</button>" in rita.get(f"/-/talk/Doc?thread={thread}").data.decode()
    assert carl.post(url, data={"status": "reopened"}).status_code == 403 and status() == "resolved"
    assert bob.post(url, data={"status": "reopened"}).status_code == 302 and status() == "open"
    assert ada.post(url, data={"status": "resolved"}).status_code == 302 and status() == "resolved"
    assert rita.post(url, data={"status": "bogus"}).status_code == 400
    assert client_for(app).post(url, data={"status": "reopened"}).status_code == 302  # to the login page
    assert status() == "resolved"


def test_anonymous_visitors_read_but_must_log_in_to_comment(app):
    rita, anon = client_for(app, "Rita"), client_for(app)
    thread = start(rita, body="Visible to all")
    listing = anon.get("/-/talk/Doc")
    assert listing.status_code == 200 and "Late contract" in listing.data.decode()
    html = anon.get(f"/-/talk/Doc?thread={thread}").data.decode()
    assert "Visible to all" in html and "Log in to comment" in html and "/-/login?next=" in html
    assert 'name="body"' not in html and "Reply</summary>" not in html
    before = commits(app)
    r = anon.post("/-/talk/Doc", data={"title": "t", "body": "b"})
    assert r.status_code == 302 and "/-/login" in r.headers["Location"]
    r = anon.post(f"/-/talk/Doc?thread={thread}", data={"body": "b"})
    assert r.status_code == 302 and "/-/login" in r.headers["Location"]
    assert anon.post("/-/api/v1/pages/Doc/talk", json={"title": "t", "body": "b"}).status_code == 401
    assert commits(app) == before
    page = anon.get("/Doc").data.decode()
    assert "data-discuss" not in page and "talk.js" not in page  # no Discuss button for them


def test_with_talk_for_editors_readers_cannot_comment(make_app):
    app = make_app(WIKI_TALK="editor")
    rita, bob = client_for(app, "Rita"), client_for(app, "Bob")
    assert rita.post("/-/talk/Doc", data={"title": "t", "body": "b"}).status_code == 403
    assert "Only editors of this page may start threads" in rita.get("/-/talk/Doc").data.decode()
    thread = start(bob)
    assert rita.post(f"/-/talk/Doc?thread={thread}", data={"body": "b"}).status_code == 403
    assert rita.post(f"/-/api/v1/pages/Doc/talk/{thread}/comments", json={"body": "b"}).status_code == 403
    reply(bob, thread, "editors may")


def test_talk_of_a_page_one_may_not_read_is_404(app):
    wiki = app.extensions["tacit"]
    wiki.pages.save("Secret/Plan", "hidden words\n", ADA)
    thread, _ = wiki.talk.start("Secret/Plan", "Hidden topic", "psst", ADA, "Ada")
    wiki.rules.set("Secret/", "admins", "admins")
    rita, anon, ada = client_for(app, "Rita"), client_for(app), client_for(app, "Ada")
    for client in (rita, anon):
        for url in ("/-/talk/Secret/Plan", f"/-/talk/Secret/Plan?thread={thread}", "/-/talk?page=Secret/Plan",
                    f"/-/talk-history/Secret/Plan?thread={thread}&comment={thread}"):
            r = client.get(url)
            assert r.status_code == 404 and b"Hidden topic" not in r.data, url
        assert client.get("/-/api/v1/pages/Secret/Plan/talk").status_code == 404
        assert client.post("/-/talk/Secret/Plan", data={"title": "t", "body": "b"}).status_code == 404
    assert "Hidden topic" in ada.get("/-/talk/Secret/Plan").data.decode()


def test_a_deleted_pages_threads_stay_reachable(app):
    rita, bob = client_for(app, "Rita"), client_for(app, "Bob")
    thread = start(rita, body="About the old page")
    assert bob.post("/-/delete/Doc", data={}).status_code == 302
    listing = rita.get("/-/talk/Doc")
    assert listing.status_code == 200
    assert "was deleted" in listing.data.decode() and "Late contract" in listing.data.decode()
    html = rita.get(f"/-/talk/Doc?thread={thread}").data.decode()
    assert "About the old page" in html and "was deleted" in html
    reply(rita, thread, "Still discussing")
    assert rita.get("/-/talk/Never-Existed").status_code == 404


def test_threads_follow_a_renamed_page(app):
    rita, bob = client_for(app, "Rita"), client_for(app, "Bob")
    thread = start(rita, body="Before the rename")
    assert bob.post("/-/rename/Doc", data={"new_name": "Docs/Guide"}).status_code == 302
    r = rita.get(f"/-/talk/Doc?thread={thread}")
    assert r.status_code == 302 and r.headers["Location"] == f"/-/talk/Docs/Guide?thread={thread}"
    assert "Before the rename" in rita.get(r.headers["Location"]).data.decode()
    assert rita.post(f"/-/talk/Doc?thread={thread}", data={"body": "x"}).status_code == 404  # no guessing on writes


def test_the_query_form_of_the_routes(app):
    rita = client_for(app, "Rita")
    r = rita.post("/-/talk?page=Doc", data={"title": "By query", "body": "b"})
    assert r.status_code == 302
    thread = re.search(r"thread=([\w-]+)", r.headers["Location"]).group(1)
    assert b"By query" in rita.get(f"/-/talk?page=Doc&thread={thread}").data
    assert rita.post(f"/-/talk-status?page=Doc&thread={thread}", data={"status": "resolved"}).status_code == 302
    assert app.extensions["tacit"].talk.thread("Doc", thread).resolved


# -- quotes ----------------------------------------------------------------------------

def test_a_quote_is_prefilled_stored_shown_and_marked_outdated_when_the_page_changes(app):
    wiki = app.extensions["tacit"]
    rita, bob = client_for(app, "Rita"), client_for(app, "Bob")
    revision = wiki.pages.get("Doc").revision
    page = rita.get("/Doc").data.decode()
    assert f'data-revision="{revision}"' in page and 'data-discuss="/-/talk/Doc"' in page
    assert re.search(r'<script src="/-/static/talk.js[^"]*" defer></script>', page)
    assert not re.search(r"<script(?![^>]*\bsrc=)", page)  # the CSP allows no inline script

    form = rita.get(f"/-/talk/Doc?quote=vendor+contract+is+late&revision={revision}").data.decode()
    assert "vendor contract is late</textarea>" in form
    assert f'name="revision" value="{revision}"' in form

    # the browser's selection spaces the text its own way: still found on the page
    thread = start(rita, title="About a passage", body="Really?", quote="The vendor\n  contract is late.",
                   revision=revision)
    html = rita.get(f"/-/talk/Doc?thread={thread}").data.decode()
    assert "<blockquote>The vendor contract is late.</blockquote>" in html
    assert f'href="/Doc?rev={revision}"' in html
    assert "outdated" not in html
    api = rita.get(f"/-/api/v1/pages/Doc/talk/{thread}").get_json()
    assert api["quote"] == "The vendor contract is late." and api["revision"] == revision
    assert api["outdated"] is False

    edit = re.search(r'name="base" value="([0-9a-f]{40})"', bob.get("/-/edit/Doc").data.decode()).group(1)
    bob.post("/-/edit/Doc", data={"text": "# Doc\n\nThe contract was signed.\n", "base": edit})
    html = rita.get(f"/-/talk/Doc?thread={thread}").data.decode()
    assert 'class="tag tag-outdated">outdated' in html and "The page no longer says this." in html
    assert f'href="/Doc?rev={revision}"' in html  # the page as it was
    assert rita.get(f"/-/api/v1/pages/Doc/talk/{thread}").get_json()["outdated"] is True
    assert "tag-outdated" in rita.get("/-/talk/Doc").data.decode()
    assert rita.get(f"/Doc?rev={revision}").status_code == 200


def test_a_bad_revision_for_a_quote_is_refused(app):
    rita = client_for(app, "Rita")
    r = rita.post("/-/talk/Doc", data={"title": "t", "body": "b", "quote": "vendor", "revision": "0" * 40})
    assert r.status_code == 400 and "is not a revision of this wiki" in r.data.decode()


# -- safety ----------------------------------------------------------------------------

def tags(html: str) -> list[tuple[str, dict]]:
    """Every element of an HTML text, with its attributes."""
    found = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, dict(attrs)))

    Collect().feed(html)
    return found


def test_script_and_event_handlers_in_comments_show_as_text(app):
    rita = client_for(app, "Rita")
    attack = "<script>alert(1)</script> and <img src=x onerror=alert(1)> but <b>bold</b> <q>ok</q>"
    thread = start(rita, title="<script>alert('t')</script>", body=attack)
    reply(rita, thread, '<a href="javascript:alert(1)">x</a> <iframe src="//evil"></iframe>')
    for url in (f"/-/talk/Doc?thread={thread}", "/-/talk/Doc", "/-/api/v1/pages/Doc/talk"):
        html = rita.get(url).data.decode()
        if url.startswith("/-/api/"):
            html = "".join(c["html"] for t in json.loads(html)["threads"] for c in t["comments"])
        elements = tags(html)
        assert [a for t, a in elements if t == "script" and not a.get("src", "").startswith("/-/static/")] == []
        assert not any(t in ("img", "iframe") for t, _ in elements)
        assert not any(k.startswith("on") or "javascript:" in (v or "") for _, a in elements for k, v in a.items())
    html = rita.get(f"/-/talk/Doc?thread={thread}").data.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # shown as text
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<b>bold</b>" in html and "<q>ok</q>" in html  # the small allowed tag set works
    api = rita.get("/-/api/v1/pages/Doc/talk").get_json()["threads"][0]["comments"][0]
    assert "<script" not in api["html"] and "<img" not in api["html"] and api["body"] == attack


def test_every_form_is_csrf_protected(make_app):
    app = make_app(csrf=True)
    rita = app.test_client()
    login_form = rita.get("/-/login").data.decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', login_form).group(1)
    assert rita.post("/-/login", data={"name": "Rita", "password": PASSWORD, "csrf_token": token}).status_code == 302
    html = rita.get("/-/talk/Doc").data.decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    assert rita.post("/-/talk/Doc", data={"title": "t", "body": "b"}).status_code == 400
    r = rita.post("/-/talk/Doc", data={"title": "t", "body": "b", "csrf_token": token})
    assert r.status_code == 302
    thread = re.search(r"thread=([\w-]+)", r.headers["Location"]).group(1)
    html = rita.get(f"/-/talk/Doc?thread={thread}").data.decode()
    forms = re.findall(r'<form method="post".*?</form>', html, re.S)
    assert len(forms) >= 4 and all('name="csrf_token"' in f for f in forms)  # status, reply, delete, comment
    for url, data in ((f"/-/talk/Doc?thread={thread}", {"body": "x"}),
                      (f"/-/talk-edit/Doc?thread={thread}&comment={thread}", {"body": "x"}),
                      (f"/-/talk-delete/Doc?thread={thread}&comment={thread}", {}),
                      (f"/-/talk-status/Doc?thread={thread}", {"status": "resolved"})):
        assert rita.post(url, data=data).status_code == 400, url
    assert rita.post(f"/-/api/v1/pages/Doc/talk/{thread}/resolve").status_code == 400
    assert rita.post(f"/-/api/v1/pages/Doc/talk/{thread}/resolve", headers={"X-CSRFToken": token}).status_code == 200


# -- bad input -------------------------------------------------------------------------

def test_bad_input_gets_a_clear_400_or_404_and_no_commit(app):
    rita = client_for(app, "Rita")
    thread = start(rita)
    before = commits(app)
    r = rita.post("/-/talk/Doc", data={"title": "Kept title", "body": "   "})
    assert r.status_code == 400
    html = r.data.decode()
    assert "A comment cannot be empty." in html and 'value="Kept title"' in html
    r = rita.post("/-/talk/Doc", data={"title": "", "body": "kept body"})
    assert r.status_code == 400
    assert "A thread needs a title." in r.data.decode() and "kept body</textarea>" in r.data.decode()
    r = rita.post(f"/-/talk/Doc?thread={thread}", data={"body": "x" * (64 * 1024 + 1)})
    assert r.status_code == 400 and "at most 64 KB" in r.data.decode()
    r = rita.post(f"/-/talk/Doc?thread={thread}", data={"body": "", "reply_to": thread})
    assert r.status_code == 400 and "A comment cannot be empty." in r.data.decode()
    r = rita.post(f"/-/talk/Doc?thread={thread}", data={"body": "x", "reply_to": "20260101-000000-abcdef"})
    assert r.status_code == 400 and "no comment" in r.data.decode()
    assert rita.get("/-/talk/Doc?thread=20260101-000000-abcdef").status_code == 404
    assert rita.get("/-/talk/Doc?thread=../../etc").status_code == 404
    assert rita.post("/-/talk/Doc?thread=20260101-000000-abcdef", data={"body": "x"}).status_code == 404
    assert rita.post(f"/-/talk-edit/Doc?thread={thread}&comment=20260101-000000-abcdef",
                     data={"body": "x"}).status_code == 404
    assert rita.post(f"/-/talk-edit/Doc?thread={thread}&comment=20260101-000000-abcdef",
                     data={"body": ""}).status_code == 404
    assert rita.post(f"/-/talk-delete/Doc?thread={thread}&comment=nope").status_code == 404
    assert rita.post("/-/talk-status/Doc", data={"status": "resolved"}).status_code == 400
    assert rita.get(f"/-/talk-history/Doc?thread={thread}&comment=nope").status_code == 404
    assert rita.get(f"/-/talk/Doc?thread={thread}&edit=nope").status_code == 404
    assert rita.get("/-/talk/bad//name").status_code == 400
    assert commits(app) == before


# -- the JSON API ----------------------------------------------------------------------

def test_api_threads_with_nested_comments(app):
    rita, bob = client_for(app, "Rita"), client_for(app, "Bob")
    r = rita.post("/-/api/v1/pages/Doc/talk", json={"title": "Via API", "body": "Opening *words*",
                                                    "quote": "vendor contract"})
    assert r.status_code == 201
    t = r.get_json()
    assert t["title"] == "Via API" and t["author"] == "Rita" and t["status"] == "open" and t["page"] == "Doc"
    assert t["quote"] == "vendor contract" and t["outdated"] is False and t["revision"] is None
    assert t["comments"][0]["html"] == "<p>Opening <em>words</em></p>\n"
    thread, opening = t["id"], t["comments"][0]["id"]
    r = bob.post(f"/-/api/v1/pages/Doc/talk/{thread}/comments", json={"body": "A reply", "reply_to": opening})
    assert r.status_code == 201
    c = r.get_json()
    assert c["reply_to"] == opening and c["author"] == "Bob" and c["edited"] is None and c["deleted"] is False
    r = rita.post(f"/-/api/v1/pages/Doc/talk/{thread}/comments", json={"body": "Deeper", "reply_to": c["id"]})
    deeper = r.get_json()["id"]

    listing = rita.get("/-/api/v1/pages/Doc/talk").get_json()
    assert listing["page"] == "Doc" and len(listing["threads"]) == 1
    got = listing["threads"][0]
    assert set(got) >= {"id", "title", "author", "name", "status", "quote", "revision", "outdated", "created",
                        "last_activity", "comments"}
    root = got["comments"]
    assert len(root) == 1 and root[0]["id"] == opening
    assert root[0]["replies"][0]["id"] == c["id"]
    assert root[0]["replies"][0]["replies"][0]["id"] == deeper
    assert set(root[0]) == {"id", "author", "name", "date", "body", "html", "reply_to", "edited", "deleted",
                            "replies"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", got["last_activity"])


def test_api_edit_delete_resolve_reopen(app):
    rita, bob, carl = client_for(app, "Rita"), client_for(app, "Bob"), client_for(app, "Carl")
    thread = rita.post("/-/api/v1/pages/Doc/talk", json={"title": "T", "body": "Opening"}).get_json()["id"]
    url = f"/-/api/v1/pages/Doc/talk/{thread}/comments/{thread}"
    r = rita.patch(url, json={"body": "Opening, edited"})
    assert r.status_code == 200 and r.get_json()["body"] == "Opening, edited" and r.get_json()["edited"]
    r = carl.patch(url, json={"body": "hijack"})
    assert r.status_code == 403 and r.get_json()["error"]
    r = carl.delete(url)
    assert r.status_code == 403 and r.is_json

    r = carl.post(f"/-/api/v1/pages/Doc/talk/{thread}/resolve")
    assert r.status_code == 403 and r.is_json
    r = bob.post(f"/-/api/v1/pages/Doc/talk/{thread}/resolve")
    assert r.status_code == 200 and r.get_json()["status"] == "resolved"
    r = rita.post(f"/-/api/v1/pages/Doc/talk/{thread}/reopen")
    assert r.status_code == 200 and r.get_json()["status"] == "open"

    reply = rita.post(f"/-/api/v1/pages/Doc/talk/{thread}/comments",
                      json={"body": "child", "reply_to": thread}).get_json()["id"]
    r = rita.delete(url)
    assert r.status_code == 200
    gone = r.get_json()
    assert gone["deleted"] is True and gone["body"] == "" and gone["html"] == ""
    assert gone["replies"][0]["id"] == reply  # the reply keeps its place
    assert rita.patch(url, json={"body": "again"}).status_code == 400  # a deleted comment stays deleted


def test_api_errors_are_json(app):
    rita, anon = client_for(app, "Rita"), client_for(app)
    thread = rita.post("/-/api/v1/pages/Doc/talk", json={"title": "T", "body": "b"}).get_json()["id"]
    base = "/-/api/v1/pages/Doc/talk"
    cases = [
        (anon.post(base, json={"title": "t", "body": "b"}), 401),
        (anon.post(f"{base}/{thread}/comments", json={"body": "b"}), 401),
        (anon.patch(f"{base}/{thread}/comments/{thread}", json={"body": "b"}), 401),
        (anon.delete(f"{base}/{thread}/comments/{thread}"), 401),
        (anon.post(f"{base}/{thread}/resolve"), 401),
        (rita.post(base, json={"title": "t", "body": ""}), 400),
        (rita.post(base, json={"body": "no title"}), 400),
        (rita.post(base, json={"title": "t", "body": 5}), 400),
        (rita.post(base, json=["not", "an", "object"]), 400),
        (rita.post(base, data="title=t", content_type="application/x-www-form-urlencoded"), 415),
        (rita.post(base, json={"title": "t", "body": "b", "quote": "q", "revision": "nope"}), 400),
        (rita.post(f"{base}/{thread}/comments", json={"body": "b", "reply_to": "20260101-000000-abcdef"}), 400),
        (rita.post(f"{base}/{thread}/comments", json={"body": "  "}), 400),
        (rita.patch(f"{base}/{thread}/comments/{thread}", json={}), 400),
        (rita.get(f"{base}/20260101-000000-abcdef"), 404),
        (rita.post(f"{base}/20260101-000000-abcdef/comments", json={"body": "b"}), 404),
        (rita.patch(f"{base}/{thread}/comments/20260101-000000-abcdef", json={"body": "b"}), 404),
        (rita.delete(f"{base}/{thread}/comments/20260101-000000-abcdef"), 404),
        (rita.post(f"{base}/20260101-000000-abcdef/resolve"), 404),
        (rita.get("/-/api/v1/pages/Nowhere/talk"), 404),
        (rita.post("/-/api/v1/pages/Nowhere/talk", json={"title": "t", "body": "b"}), 404),
    ]
    for i, (r, status) in enumerate(cases):
        assert r.status_code == status, (i, r.status_code, r.data[:300])
        assert r.is_json and r.get_json()["error"], i
    assert anon.get(base).status_code == 200  # reading needs no account


def test_api_with_a_bearer_token_needs_no_csrf(make_app):
    app = make_app(csrf=True)
    users = app.extensions["tacit"].users
    _, secret = users.create_token(users.by_name("Rita").id, "bot")
    client = app.test_client()
    r = client.post("/-/api/v1/pages/Doc/talk", json={"title": "Bot", "body": "beep"},
                    headers={"Authorization": f"Bearer {secret}"})
    assert r.status_code == 201 and r.get_json()["author"] == "Rita"
    assert git(app.config["WIKI_REPO"], "log", "-1", "--format=%an").strip() == "Rita"
    assert client.post("/-/api/v1/pages/Doc/talk", json={"title": "Bot", "body": "beep"}).status_code == 401


def test_a_comment_linking_a_renamed_pages_old_name_is_not_a_red_link(app):
    rita, bob = client_for(app, "Rita"), client_for(app, "Bob")
    app.extensions["tacit"].pages.save("Other", "# Other\n", ADA)
    thread = start(rita, body="See [[Other]] and [[Nowhere]].")
    assert bob.post("/-/rename/Other", data={"new_name": "Elsewhere"}).status_code == 302
    html = rita.get(f"/-/talk/Doc?thread={thread}").get_data(as_text=True)
    assert re.search(r'<a class="wikilink" href="/Other"', html)  # followed, it redirects
    assert re.search(r'<a class="[^"]*missing[^"]*" href="[^"]*Nowhere', html)
