"""Watching pages and threads: automatic and explicit watches, the watchlist, the unread count,
mentions, the private feed, and notification mail over a real SMTP conversation."""

import re
import socket
import socketserver
import threading
import xml.etree.ElementTree as ET
from html import unescape

import pytest

from wiki.core.gitrepo import Person

from .conftest import TEAM_PASSWORD, client_for, team_app

PASSWORD = TEAM_PASSWORD
ADA = Person("Ada", "ada@example.org")
BOB = Person("Bob", "bob@example.org")
CAROL = Person("Carol", "carol@example.org")
ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def make_app(tmp_path):
    def make(csrf: bool = False, **settings):
        app = team_app(tmp_path, [("Ada", "admin"), ("Bob", "editor"), ("Carol", "editor")], csrf, **settings)
        app.extensions["tacit"].pages.save("Notes", "first line\n", ADA, "start")
        return app
    return make


@pytest.fixture
def app(make_app):
    return make_app()


def user(app, name):
    return app.extensions["tacit"].users.by_name(name)


def edit(client, app, page, text):
    """Save through the edit form, from the current revision."""
    base = app.extensions["tacit"].pages.get(page)
    r = client.post(f"/-/edit/{page}", data={"text": text, "base": base.commit if base else ""})
    assert r.status_code == 302, r.data[:300]


def badge(response) -> str | None:
    m = re.search(r'class="unread-badge"[^>]*>(\d+)<', response.get_data(as_text=True))
    return m.group(1) if m else None


def watch_button(response) -> str | None:
    m = re.search(r'<form method="post" action="[^"]*/-/watch/[^"]*" class="watch-form">.*?'
                  r'<button[^>]*>(\w+)</button>', response.get_data(as_text=True), re.S)
    return m.group(1) if m else None


def main_part(response) -> str:
    text = response.get_data(as_text=True)
    return text[text.index("<main"):text.index("</main>")]


# -- watching ------------------------------------------------------------------------------

def test_editing_creating_and_renaming_watch_the_page(app):
    ada = client_for(app, "Ada")
    watches = app.extensions["tacit"].watches
    ada_id = user(app, "Ada").id
    assert watches.watches(ada_id) == []
    edit(ada, app, "Notes", "first line\nsecond\n")
    assert [(w.page, w.thread) for w in watches.watches(ada_id)] == [("Notes", None)]
    assert ada.post("/-/new", data={"name": "Plans", "text": "soon"}).status_code == 302
    assert watches.is_watching(ada_id, "Plans")
    # a rename carries everyone's watches to the new name
    bob_id = user(app, "Bob").id
    watches.watch(bob_id, "Plans")
    assert ada.post("/-/rename/Plans", data={"new_name": "Roadmap"}).status_code == 302
    for uid in (ada_id, bob_id):
        assert watches.is_watching(uid, "Roadmap") and not watches.is_watching(uid, "Plans")
    assert {w.page for w in watches.watches(ada_id)} == {"Notes", "Roadmap"}


def test_watch_and_unwatch_buttons_on_the_page_even_when_the_view_is_cached(app):
    bob = client_for(app, "Bob")
    watches = app.extensions["tacit"].watches
    bob_id = user(app, "Bob").id
    assert watch_button(bob.get("/Notes")) == "Watch"
    assert watch_button(bob.get("/Notes")) == "Watch"  # now from the view cache
    r = bob.post("/-/watch/Notes", data={"action": "watch"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/Notes")
    assert watches.is_watching(bob_id, "Notes")
    bob.get("/Notes")  # the one-time message
    assert watch_button(bob.get("/Notes")) == "Unwatch"  # same head, same cache key: still right
    assert bob.post("/-/watch/Notes", data={"action": "unwatch"}).status_code == 302
    assert not watches.is_watching(bob_id, "Notes")
    bob.get("/Notes")
    assert watch_button(bob.get("/Notes")) == "Watch"
    assert bob.post("/-/watch/Notes", data={"action": "sideways"}).status_code == 400
    assert bob.post("/-/watch/Not/Yet", data={"action": "watch"}).status_code == 302  # to hear of its creation
    assert watches.is_watching(bob_id, "Not/Yet")
    # anonymous visitors see no button and are sent to log in
    anonymous = client_for(app)
    assert watch_button(anonymous.get("/Notes")) is None
    r = anonymous.post("/-/watch/Notes", data={"action": "watch"})
    assert r.status_code == 302 and "/-/login" in r.headers["Location"]


def test_watch_forms_need_the_csrf_token(make_app):
    app = make_app(csrf=True)
    bob = app.test_client()
    page = bob.get("/-/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert bob.post("/-/login", data={"name": "Bob", "password": PASSWORD, "csrf_token": token}).status_code == 302
    assert bob.post("/-/watch/Notes", data={"action": "watch"}).status_code == 400
    assert not app.extensions["tacit"].watches.is_watching(user(app, "Bob").id, "Notes")
    html = bob.get("/Notes").get_data(as_text=True)
    form = re.search(r'<form method="post" action="([^"]+)" class="watch-form">.*?name="csrf_token" value="([^"]+)"',
                     html, re.S)
    assert bob.post(unescape(form.group(1)), data={"action": "watch", "csrf_token": form.group(2)}).status_code == 302
    assert app.extensions["tacit"].watches.is_watching(user(app, "Bob").id, "Notes")


# -- the watchlist ---------------------------------------------------------------------------

def test_watchlist_shows_another_users_edit_with_a_diff_link_until_the_page_is_viewed(app):
    ada, bob = client_for(app, "Ada"), client_for(app, "Bob")
    assert ada.post("/-/watch/Notes", data={"action": "watch"}).status_code == 302
    assert "Nothing new" in main_part(ada.get("/-/watchlist"))
    edit(bob, app, "Notes", "first line\nBob was here\n")
    sha = app.extensions["tacit"].pages.head()
    listing = main_part(ada.get("/-/watchlist"))
    assert "Bob" in listing and "Nothing new" not in listing
    assert f'href="/-/diff/Notes?to={sha}"' in listing
    diff_link = re.search(r'href="([^"]+)">All changes since you looked', listing).group(1)
    diff = ada.get(unescape(diff_link))
    assert diff.status_code == 200 and "Bob was here" in diff.get_data(as_text=True)
    # Bob's own edit is not news to Bob (he watches the page since he saved it)
    assert "Nothing new" in main_part(bob.get("/-/watchlist"))
    # viewing the page is looking at it
    assert ada.get("/Notes").status_code == 200
    listing = main_part(ada.get("/-/watchlist"))
    assert "Nothing new" in listing and sha not in listing


def test_viewing_writes_only_when_something_was_unseen(app):
    ada, bob = client_for(app, "Ada"), client_for(app, "Bob")
    wiki = app.extensions["tacit"]
    ada_id = user(app, "Ada").id
    ada.post("/-/watch/Notes", data={"action": "watch"})
    edit(bob, app, "Notes", "changed by Bob\n")
    before = wiki.watches.state(ada_id)
    ada.get("/Notes")
    after = wiki.watches.state(ada_id)
    assert after != before  # one write: the page is seen now
    ada.get("/Notes")
    ada.get("/-/view?page=Notes")
    ada.get("/Home")
    assert wiki.watches.state(ada_id) == after  # nothing new: no more writes
    # an old revision is not "looking at" the page
    edit(bob, app, "Notes", "changed again\n")
    ada.get(f"/Notes?rev={wiki.pages.head()}")
    assert wiki.watches.state(ada_id) == after


def test_mark_all_as_seen(app):
    ada, bob = client_for(app, "Ada"), client_for(app, "Bob")
    ada.post("/-/watch/Notes", data={"action": "watch"})
    ada.post("/-/watch/Home", data={"action": "watch"})
    edit(bob, app, "Notes", "one\n")
    edit(bob, app, "Home", "two\n")
    listing = main_part(ada.get("/-/watchlist"))
    assert listing.count('class="card watch-page"') == 2 and "Mark all as seen" in listing
    r = ada.post("/-/watchlist/seen")
    assert r.status_code == 302
    listing = main_part(ada.get("/-/watchlist"))
    assert "Nothing new" in listing and "Mark all as seen" not in listing
    assert badge(ada.get("/Home")) is None


def test_watchlist_needs_a_login(app):
    r = client_for(app).get("/-/watchlist")
    assert r.status_code == 302 and "/-/login" in r.headers["Location"]
    assert client_for(app).post("/-/watchlist/seen").status_code == 302


def test_unwatching_from_the_watchlist_and_hidden_pages(app):
    ada, bob = client_for(app, "Ada"), client_for(app, "Bob")
    wiki = app.extensions["tacit"]
    bob_id = user(app, "Bob").id
    wiki.pages.save("HR/Salaries", "secret\n", ADA)
    wiki.watches.watch(bob_id, "HR/Salaries")
    wiki.watches.watch(bob_id, "Notes")
    edit(ada, app, "Notes", "news\n")
    wiki.pages.save("HR/Salaries", "more secret\n", ADA, base=wiki.pages.head())
    assert badge(bob.get("/Home")) == "2"
    wiki.rules.set("HR/", "admins", None)  # Bob may not read HR/ any more
    listing = main_part(bob.get("/-/watchlist"))
    assert "HR/Salaries" not in listing and "Notes" in listing
    assert badge(bob.get("/Home")) == "1"
    r = bob.post("/-/watch/Notes", data={"action": "unwatch", "next": "/-/watchlist"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/-/watchlist")
    assert not wiki.watches.is_watching(bob_id, "Notes")
    r = bob.post("/-/watch/Notes", data={"action": "watch", "next": "https://evil.example/"})
    assert r.headers["Location"] in ("/", "http://localhost/")  # only paths on this site


# -- the unread count ------------------------------------------------------------------------

def test_unread_count_in_the_header_is_computed_once_per_head(app, monkeypatch):
    ada, bob = client_for(app, "Ada"), client_for(app, "Bob")
    wiki = app.extensions["tacit"]
    for page in ("Notes", "Home"):
        ada.post("/-/watch/" + page, data={"action": "watch"})
    edit(bob, app, "Notes", "a\n")
    edit(bob, app, "Home", "b\n")
    calls = []
    real_log = wiki.repo.log
    monkeypatch.setattr(wiki.repo, "log", lambda *a, **k: calls.append(a) or real_log(*a, **k))
    assert badge(ada.get("/-/pages")) == "2"
    assert badge(ada.get("/-/recent")) == "2"
    assert badge(ada.get("/-/pages")) == "2"
    watch_logs = [c for c in calls if "Notes.md" in c]
    assert len(watch_logs) == 1  # one git log over every watched path, then the cache
    assert set(watch_logs[0][1:]) >= {"Notes.md", "Home.md", ".talk/Notes.md/", ".talk/Home.md/"}
    assert badge(ada.get("/Notes")) == "1"  # looking at Notes: counted at once, without asking git again
    assert len([c for c in calls if "Notes.md" in c]) == 1
    assert badge(client_for(app, "Carol").get("/Home")) is None  # Carol watches nothing
    assert badge(bob.get("/Home")) is None  # his own edits


def test_a_cached_page_never_answers_304_with_a_stale_count(app):
    ada, bob = client_for(app, "Ada"), client_for(app, "Bob")
    for page in ("Notes", "Home"):
        ada.post("/-/watch/" + page, data={"action": "watch"})
    edit(bob, app, "Notes", "a\n")
    ada.get("/-/recent")  # shows the one-time messages of the watch buttons
    ada.get("/-/pages")
    first = ada.get("/-/pages")  # from the view cache, with an ETag
    etag = first.headers["ETag"].strip('"')
    assert badge(first) == "1"
    again = ada.get("/-/pages", headers={"If-None-Match": f'"{etag}"'})
    assert again.status_code == 304  # nothing changed: the browser's copy is right
    ada.get("/Notes")  # seen: the head did not move, the count did
    fresh = ada.get("/-/pages", headers={"If-None-Match": f'"{etag}"'})
    assert fresh.status_code == 200 and badge(fresh) is None


# -- talk, mentions and replies ----------------------------------------------------------------

def test_a_mention_puts_the_thread_on_the_mentioned_users_watchlist(app):
    wiki = app.extensions["tacit"]
    ada = user(app, "Ada")
    body = "Could @Carol and @nobody have a look? Thanks, @Ada"
    thread, result = wiki.talk.start("Notes", "Review", body, ADA, "Ada")
    told = wiki.watches.after_comment(ada, "Notes", thread, body, None, result.commit, "http://wiki/x")
    assert told == ["Carol"]  # not the unknown name, not the author herself
    carol_id = user(app, "Carol").id
    assert [(w.page, w.thread) for w in wiki.watches.watches(carol_id)] == [("Notes", thread)]
    assert wiki.watches.is_watching(ada.id, "Notes") and wiki.watches.is_watching(ada.id, "Notes", thread)
    carol = client_for(app, "Carol")
    assert badge(carol.get("/Home")) == "1"
    listing = main_part(carol.get("/-/watchlist"))
    assert "mentions you" in listing and "new thread" in listing and f"thread={thread}" in listing
    # Bob replies to Carol's comment: Carol is told; the reply is news to Ada (she watches the thread)
    carol_comment, r2 = wiki.talk.reply("Notes", thread, "Done, looks fine.", CAROL, "Carol")
    wiki.watches.after_comment(user(app, "Carol"), "Notes", thread, "Done, looks fine.", "Ada", r2.commit)
    reply_id, r3 = wiki.talk.reply("Notes", thread, "Agreed.", BOB, "Bob", reply_to=carol_comment)
    assert wiki.watches.after_comment(user(app, "Bob"), "Notes", thread, "Agreed.", "Carol", r3.commit) == ["Carol"]
    ada_list = main_part(client_for(app, "Ada").get("/-/watchlist"))
    assert "Carol" in ada_list and "Bob" in ada_list and f"#c-{reply_id}" in ada_list
    # viewing the talk page counts as looking at the page
    assert carol.get(f"/-/talk/Notes?thread={thread}").status_code == 200
    assert "Nothing new" in main_part(carol.get("/-/watchlist"))


def test_no_one_is_told_about_a_page_they_may_not_read(app):
    wiki = app.extensions["tacit"]
    wiki.pages.save("HR/Review", "secret\n", ADA)
    wiki.rules.set("HR/", "admins", None)
    body = "@Bob what do you think?"
    thread, result = wiki.talk.start("HR/Review", "Raise", body, ADA, "Ada")
    assert wiki.watches.after_comment(user(app, "Ada"), "HR/Review", thread, body, None, result.commit) == []
    assert wiki.watches.watches(user(app, "Bob").id) == []


def test_after_comment_without_the_commit_finds_it(app):
    wiki = app.extensions["tacit"]
    thread, _ = wiki.talk.start("Notes", "Hello", "Hi @Bob", ADA, "Ada")
    assert wiki.watches.after_comment(user(app, "Ada"), "Notes", thread, "Hi @Bob") == ["Bob"]
    assert len(wiki.watches.activity(user(app, "Bob")).pages) == 1


# -- the feed ------------------------------------------------------------------------------------

def test_private_feed_with_valid_and_invalid_tokens(app):
    ada, bob = client_for(app, "Ada"), client_for(app, "Bob")
    ada.post("/-/watch/Notes", data={"action": "watch"})
    edit(bob, app, "Notes", "first line\nfeed me\n")
    r = ada.post("/-/watchlist/feed")
    assert r.status_code == 200
    url = unescape(re.search(r'id="feed-url"[^>]*value="([^"]+)"', r.get_data(as_text=True)).group(1))
    assert "token=feed_" in url
    assert "feed-url" not in ada.get("/-/watchlist").get_data(as_text=True)  # shown once; only a hash is kept
    reader = client_for(app)  # a feed reader has no session
    path = url.split("localhost", 1)[1]
    feed = reader.get(path)
    assert feed.status_code == 200 and feed.mimetype == "application/atom+xml"
    root = ET.fromstring(feed.data)
    entries = root.findall(f"{ATOM}entry")
    assert len(entries) == 1
    assert entries[0].find(f"{ATOM}author/{ATOM}name").text == "Bob"
    assert "/-/diff/Notes?to=" in entries[0].find(f"{ATOM}link").get("href")
    assert "+feed me" in entries[0].find(f"{ATOM}content").text
    assert "Watchlist of Ada" in root.find(f"{ATOM}title").text
    # wrong and replaced tokens: a readable 404
    bad = reader.get("/-/watchlist.atom?token=feed_wrong")
    assert bad.status_code == 404 and b"not valid" in bad.data
    assert reader.get("/-/watchlist.atom").status_code == 404
    ada.post("/-/watchlist/feed")
    assert reader.get(path).status_code == 404
    # reading the feed is not looking: the item is still unseen
    assert badge(ada.get("/Home")) == "1"


def test_feed_works_in_a_members_only_wiki(make_app):
    app = make_app(WIKI_READ="user")
    secret = app.extensions["tacit"].watches.new_feed_token(user(app, "Ada").id)
    assert client_for(app).get("/-/watchlist").status_code == 302  # the page still needs a login
    r = client_for(app).get(f"/-/watchlist.atom?token={secret}")
    assert r.status_code == 200 and ET.fromstring(r.data).tag == f"{ATOM}feed"


def test_feed_tokens_of_disabled_users_stop_working(app):
    watches, users = app.extensions["tacit"].watches, app.extensions["tacit"].users
    bob_id = user(app, "Bob").id
    secret = watches.new_feed_token(bob_id)
    assert watches.feed_user(secret).name == "Bob"
    users.set_status(bob_id, "disabled")
    assert watches.feed_user(secret) is None
    assert client_for(app).get(f"/-/watchlist.atom?token={secret}").status_code == 404


# -- mail ----------------------------------------------------------------------------------------

class SMTPHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP for smtplib: greeting, EHLO/HELO, MAIL FROM, RCPT TO, DATA, QUIT."""

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        self.reply("220 test.invalid ESMTP ready")
        envelope = {"from": None, "to": []}
        while True:
            line = self.rfile.readline()
            if not line:
                return
            command = line.decode("utf-8", "replace").strip()
            verb = command.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self.wfile.write(b"250-test.invalid\r\n250 8BITMIME\r\n")
            elif verb == "HELO":
                self.reply("250 test.invalid")
            elif command.upper().startswith("MAIL FROM:"):
                envelope = {"from": command[10:].split()[0].strip("<>"), "to": []}
                self.reply("250 OK")
            elif command.upper().startswith("RCPT TO:"):
                envelope["to"].append(command[8:].strip().strip("<>"))
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                data = []
                while True:
                    chunk = self.rfile.readline()
                    if chunk in (b".\r\n", b".\n", b""):
                        break
                    data.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                self.server.messages.append({**envelope, "data": b"".join(data)})
                self.reply("250 OK queued")
            elif verb in ("RSET", "NOOP"):
                self.reply("250 OK")
            elif verb == "QUIT":
                self.reply("221 Bye")
                return
            else:
                self.reply("502 Command not implemented")


@pytest.fixture
def smtp_server():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), SMTPHandler)
    server.daemon_threads = True
    server.messages = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_mentions_and_replies_are_mailed_when_smtp_is_configured(make_app, smtp_server):
    from email import message_from_bytes, policy

    host, port = smtp_server.server_address
    app = make_app(WIKI_SMTP_HOST=host, WIKI_SMTP_PORT=str(port), WIKI_SMTP_TLS="none",
                   WIKI_MAIL_FROM="wiki@example.org", WIKI_NAME="Team Wiki")
    wiki = app.extensions["tacit"]
    assert wiki.mailer.enabled
    body = "Grüße, @Carol: please check the numbers."
    thread, result = wiki.talk.start("Notes", "Numbers", body, ADA, "Ada")
    assert wiki.watches.after_comment(user(app, "Ada"), "Notes", thread, body, None, result.commit,
                                      f"http://wiki.example/-/talk/Notes?thread={thread}") == ["Carol"]
    wiki.mailer.wait()
    assert len(smtp_server.messages) == 1
    sent = smtp_server.messages[0]
    assert sent["from"] == "wiki@example.org" and sent["to"] == ["carol@example.org"]
    mail = message_from_bytes(sent["data"], policy=policy.default)
    assert mail["Subject"] == "[Team Wiki] Ada mentioned you on Notes"
    text = mail.get_content()
    assert "Grüße, @Carol" in text and '"Numbers"' in text and f"thread={thread}" in text
    # a reply to Carol's comment mails Carol again
    comment, r2 = wiki.talk.reply("Notes", thread, "On it.", BOB, "Bob")
    wiki.watches.after_comment(user(app, "Bob"), "Notes", thread, "On it.", "Carol", r2.commit)
    wiki.mailer.wait()
    assert len(smtp_server.messages) == 2
    assert "Bob replied to your comment" in message_from_bytes(smtp_server.messages[1]["data"],
                                                               policy=policy.default)["Subject"]


def test_without_smtp_nothing_is_sent_and_nothing_breaks(app, monkeypatch):
    import smtplib

    wiki = app.extensions["tacit"]
    assert not wiki.mailer.enabled
    monkeypatch.setattr(smtplib, "SMTP", lambda *a, **k: pytest.fail("no connection may be attempted"))
    thread, result = wiki.talk.start("Notes", "Quiet", "@Carol hello", ADA, "Ada")
    assert wiki.watches.after_comment(user(app, "Ada"), "Notes", thread, "@Carol hello", None, result.commit) \
        == ["Carol"]
    assert wiki.mailer.send("carol@example.org", "subject", "body") is None
    assert len(wiki.watches.activity(user(app, "Carol")).pages) == 1  # the watchlist still has it


def test_a_mail_server_that_is_down_does_not_break_the_comment(make_app, caplog):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = make_app(WIKI_SMTP_HOST="127.0.0.1", WIKI_SMTP_PORT=port, WIKI_SMTP_TLS="none")
    wiki = app.extensions["tacit"]
    thread, result = wiki.talk.start("Notes", "Down", "@Carol ping", ADA, "Ada")
    assert wiki.watches.after_comment(user(app, "Ada"), "Notes", thread, "@Carol ping", None, result.commit) \
        == ["Carol"]
    wiki.mailer.wait()
    assert any("mail to carol@example.org failed" in r.getMessage() for r in caplog.records)


def test_bad_mail_settings_are_refused_at_start(make_app):
    with pytest.raises(ValueError, match="WIKI_SMTP_TLS"):
        make_app(WIKI_SMTP_HOST="localhost", WIKI_SMTP_TLS="maybe")


def test_the_helper_for_the_talk_views_never_breaks_a_comment(app, monkeypatch):
    from flask import g

    from wiki.core.access import Actor
    from wiki.web.watch import comment_posted

    wiki = app.extensions["tacit"]
    bob = user(app, "Bob")
    thread, result = wiki.talk.start("Notes", "Heads-up", "@Carol see the new section", BOB, "Bob")
    with app.test_request_context("/-/talk/Notes", method="POST"):
        g.actor = Actor(bob.id, bob.name, bob.email, bob.role, bob.groups)
        assert comment_posted("Notes", thread, "@Carol see the new section", result.commit) == ["Carol"]
        monkeypatch.setattr(wiki.watches, "after_comment", lambda *a, **k: 1 / 0)
        assert comment_posted("Notes", thread, "@Carol again", result.commit) == []  # logged, not raised
    with app.test_request_context("/-/talk/Notes", method="POST"):
        g.actor = Actor()  # anonymous: nothing to watch
        assert comment_posted("Notes", thread, "@Carol", result.commit) == []
    assert wiki.watches.is_watching(bob.id, "Notes", thread)
    assert [p.page for p in wiki.watches.activity(user(app, "Carol")).pages] == ["Notes"]


def test_comments_through_the_talk_form_and_the_api_watch_and_mention(app):
    ada = client_for(app, "Ada")
    r = ada.post("/-/talk/Notes", data={"title": "Check", "body": "@Carol please look."})
    assert r.status_code == 302
    thread = r.headers["Location"].split("thread=")[1].split("#")[0]
    wiki = app.extensions["tacit"]
    assert wiki.watches.is_watching(user(app, "Ada").id, "Notes", thread)  # commenting watches
    carol = client_for(app, "Carol")
    assert badge(carol.get("/Home")) == "1" and "mentions you" in main_part(carol.get("/-/watchlist"))
    bob = client_for(app, "Bob")
    r = bob.post(f"/-/api/v1/pages/Notes/talk/{thread}/comments", json={"body": "Seen it."})
    assert r.status_code == 201
    assert wiki.watches.is_watching(user(app, "Bob").id, "Notes", thread)
    assert "Bob" in main_part(ada.get("/-/watchlist"))  # a reply to Ada's thread is news to her


# -- incremental activity ---------------------------------------------------------------------

def _fresh_answer(wiki, who):
    """The watchlist as a process that never answered it before would read it (full git log)."""
    from wiki.core.watch import WatchStore
    return WatchStore(wiki.engine, wiki.repo, wiki.users, wiki.talk).activity(who)


def _shape(activity):
    return [(p.page, [(i.sha, i.kind, i.status, i.thread) for i in p.items]) for p in activity.pages]


def test_a_moved_head_extends_the_last_answer_and_agrees_with_reading_it_all(app):
    """When only the branch moved, the watchlist is the last answer plus the new commits (read
    once for every user); it must say exactly what a full read says, talk and own edits included."""
    wiki = app.extensions["tacit"]
    ada, bob = user(app, "Ada"), user(app, "Bob")
    for name in ("Alpha", "Beta", "Gamma"):
        wiki.pages.save(name, f"{name}\n", ADA)
        wiki.watches.watch(bob.id, name)
    thread_id, _ = wiki.talk.start("Gamma", "Question", "Is this right?", ADA, ada.name)
    before = wiki.watches.activity(bob)
    assert [p.page for p in before.pages] == ["Gamma"]  # the new thread
    wiki.pages.save("Alpha", "Alpha\nmore\n", ADA, base=wiki.pages.get("Alpha").commit)
    wiki.pages.save("Unwatched", "x\n", ADA)
    wiki.pages.save("Beta", "Beta by Bob\n", BOB, base=wiki.pages.get("Beta").commit)  # his own: not news
    wiki.talk.reply("Gamma", thread_id, "Yes.", CAROL, "Carol")
    extended = wiki.watches.activity(bob)
    assert _shape(extended) == _shape(_fresh_answer(wiki, bob))
    assert [p.page for p in extended.pages] == ["Gamma", "Alpha"]
    assert wiki.watches.looked_at(bob, "Alpha")
    wiki.pages.save("Alpha", "Alpha\nmore\nagain\n", CAROL, base=wiki.pages.get("Alpha").commit)
    after_look = wiki.watches.activity(bob)
    assert _shape(after_look) == _shape(_fresh_answer(wiki, bob))
    assert [len(p.items) for p in after_look.pages if p.page == "Alpha"] == [1]


def test_a_rewritten_branch_is_read_again_not_extended(app):
    wiki = app.extensions["tacit"]
    bob = user(app, "Bob")
    wiki.pages.save("Alpha", "one\n", ADA)
    wiki.watches.watch(bob.id, "Alpha")
    first = wiki.pages.save("Alpha", "two\n", ADA, base=wiki.pages.get("Alpha").commit).commit
    assert [p.page for p in wiki.watches.activity(bob).pages] == ["Alpha"]
    parent = wiki.repo.commit(first).parents[0]
    assert wiki.repo.compare_and_swap(parent, first)  # the branch goes back, as after a forced push
    assert wiki.watches.activity(bob).pages == ()


def test_unwatching_an_older_row_changes_the_state_and_the_answer(app):
    """The state is the newest stamp; unwatching a row that is not the newest must change it too."""
    wiki = app.extensions["tacit"]
    bob = user(app, "Bob")
    for name in ("Alpha", "Beta"):
        wiki.pages.save(name, f"{name}\n", ADA)
        wiki.watches.watch(bob.id, name)
    wiki.pages.save("Alpha", "Alpha changed\n", CAROL, base=wiki.pages.get("Alpha").commit)
    assert "Alpha" in wiki.watches.activity(bob).watched
    before = wiki.watches.state(bob.id)
    assert wiki.watches.unwatch(bob.id, "Alpha")
    assert wiki.watches.state(bob.id) != before
    assert "Alpha" not in wiki.watches.activity(bob).watched and wiki.watches.activity(bob).get("Alpha") is None
    assert wiki.watches.unwatch(bob.id, "Beta") and wiki.watches.state(bob.id) == 0
