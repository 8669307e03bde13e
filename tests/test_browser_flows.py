"""End-to-end flows in a real Chromium against a real gunicorn server: one test per flow, as a
person would click through them. Each main screen is saved at 1280 and 390 px into the run's
screenshot folder (printed at the end of the run).

The module shares one server (accounts admin, editor, reader); each flow uses pages of its own,
so the flows do not depend on each other's order. The first-run flow needs an empty wiki and
starts its own server.
"""

from __future__ import annotations

import re

import pytest

from tests.browser import browser, live_wiki, snap, start_live_wiki  # noqa: F401

expect = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[test]' brings playwright").expect


@pytest.fixture
def editor(browser, live_wiki):
    page = live_wiki.new_page(browser, "editor")
    yield page
    page.context.close()


def flash(page) -> str:
    return page.locator("main .flash").first.inner_text()


# -- 1. first run ------------------------------------------------------------------------

def test_first_run_registers_the_admin(browser, tmp_path):
    wiki = start_live_wiki(tmp_path / "empty", users=False)
    page = wiki.new_page(browser, None)
    try:
        page.goto(wiki.url("/"))
        expect(page).to_have_url(re.compile(r"/Home$"))
        expect(page.get_by_role("banner").get_by_role("link", name="Register")).to_be_visible()
        page.get_by_role("banner").get_by_role("link", name="Register").click()
        expect(page.locator(".banner")).to_contain_text("the first one becomes its admin")
        page.get_by_label("Name").fill("founder")
        page.get_by_label("E-mail").fill("founder@example.org")
        page.get_by_label("Password", exact=True).fill("a good long password")
        page.get_by_label("Password again").fill("a good long password")
        page.get_by_role("button", name="Create account").click()

        expect(page).to_have_url(re.compile(r"/Home$"))
        expect(page.locator(".flash-ok")).to_contain_text("You are the first user, so you are an admin.")
        expect(page.locator("h1")).to_contain_text("Welcome")
        menu = page.locator("summary", has_text="founder")
        menu.click()
        expect(page.get_by_role("link", name="Administration")).to_be_visible()
        expect(page.get_by_role("link", name="Edit", exact=True)).to_be_visible()
    finally:
        page.context.close()
        wiki.server.stop()


# -- 2. create a page with the live preview ------------------------------------------------

NEW_PAGE = """# Release checklist

| step | owner |
|------|-------|
| tag the release | Dana |
| announce | Lee |

```python
print("shipped")
```

Background: [[Deploy notes]].
"""


def test_create_page_with_live_preview(editor, live_wiki):
    page = editor
    page.goto(live_wiki.url("/Home"))
    page.get_by_role("banner").get_by_role("link", name="New page").click()
    expect(page).to_have_url(re.compile(r"/-/new"))
    page.get_by_label("Page name").fill("Projects/Release checklist")
    page.get_by_label("Page text (markdown)").fill(NEW_PAGE)

    preview = page.locator("#preview")
    expect(preview.locator("table")).to_be_visible()  # rendered by the server as one types
    expect(preview.locator("table td").first).to_have_text("tag the release")
    expect(preview.locator("pre")).to_contain_text('print("shipped")')
    expect(preview.locator("a[data-wikilink]")).to_have_text("Deploy notes")
    snap(page, "edit")

    page.locator("#message").fill("A checklist for releases")
    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url(re.compile(r"/Projects/Release%20checklist$"))
    expect(page.locator(".flash-ok")).to_be_visible()
    content = page.locator("article .content")
    expect(content.locator("h1")).to_contain_text("Release checklist")
    expect(content.locator("table tr")).to_have_count(3)
    expect(content.locator("pre")).to_contain_text('print("shipped")')
    expect(content.locator("pre span").first).to_be_visible()  # highlighted by Pygments
    expect(content.locator("a.missing", has_text="Deploy notes")).to_be_visible()
    expect(page.locator(".meta")).to_contain_text("A checklist for releases")
    snap(page, "page")


# -- 3. a red link creates the missing page ------------------------------------------------

def test_red_link_creates_the_missing_page(editor, live_wiki):
    live_wiki.put_page("Onboarding", "# Onboarding\n\nFirst read [[Team/Laptop setup]].\n")
    page = editor
    page.goto(live_wiki.url("/Onboarding"))
    red = page.locator("article .content a.missing", has_text="Team/Laptop setup")
    expect(red).to_be_visible()
    color = red.evaluate("a => getComputedStyle(a).color")
    plain = page.locator("header .brand").evaluate("a => getComputedStyle(a).color")
    assert color != plain
    red.click()
    expect(page).to_have_url(re.compile(r"/-/edit/Team/Laptop%20setup"))
    expect(page.locator("h1")).to_contain_text("Creating Laptop setup")
    page.get_by_label("Page text (markdown)").fill("Install git, then clone the wiki.\n")
    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url(re.compile(r"/Team/Laptop%20setup$"))
    expect(page.locator("article .content")).to_contain_text("Install git, then clone the wiki.")

    page.goto(live_wiki.url("/Onboarding"))  # the link is no longer red
    link = page.locator("article .content a", has_text="Team/Laptop setup")
    expect(link).not_to_have_class(re.compile("missing"))
    link.click()
    expect(page).to_have_url(re.compile(r"/Team/Laptop%20setup$"))


# -- 4. two people edit one page at once --------------------------------------------------

LINES = "".join(f"line {n}\n" for n in range(1, 11))


def open_editor(page, wiki, name):
    page.goto(wiki.url(f"/-/edit/{name}"))
    expect(page.locator("#text")).to_have_value(re.compile("line 1"))


def test_concurrent_edits_merge_or_show_a_conflict(browser, live_wiki, editor):
    live_wiki.put_page("Plan", LINES)
    admin = live_wiki.new_page(browser, "admin")
    try:
        # different lines: the second save merges
        open_editor(editor, live_wiki, "Plan")
        open_editor(admin, live_wiki, "Plan")
        editor.fill("#text", LINES.replace("line 2\n", "line 2 by editor\n"))
        editor.get_by_role("button", name="Save").click()
        expect(editor.locator(".flash-ok")).to_be_visible()
        admin.fill("#text", LINES.replace("line 9\n", "line 9 by admin\n"))
        admin.get_by_role("button", name="Save").click()
        expect(admin).to_have_url(re.compile(r"/Plan$"))
        expect(admin.locator(".flash-merged")).to_be_visible()
        content = admin.locator("article .content")
        expect(content).to_contain_text("line 2 by editor")
        expect(content).to_contain_text("line 9 by admin")

        # the same line: a conflict screen, side by side, keeping the admin's text
        open_editor(editor, live_wiki, "Plan")
        open_editor(admin, live_wiki, "Plan")
        merged = admin.input_value("#text")
        editor.fill("#text", merged.replace("line 5\n", "line 5: Tuesday\n"))
        editor.get_by_role("button", name="Save").click()
        expect(editor.locator(".flash-ok")).to_be_visible()
        mine = merged.replace("line 5\n", "line 5: Thursday\n") + "my own closing line\n"
        admin.fill("#text", mine)
        admin.locator("#message").fill("Thursday is better")
        admin.get_by_role("button", name="Save").click()

        expect(admin.locator("h1")).to_have_text("Edit conflict")
        expect(admin.get_by_role("alert")).to_contain_text("their version is on the left, yours on the right")
        theirs, yours = admin.locator(".conflict section").nth(0), admin.locator(".conflict section").nth(1)
        expect(theirs.locator("pre")).to_contain_text("line 5: Tuesday")
        assert admin.input_value("#text") == mine  # nothing of the user's text is lost
        assert admin.input_value("#message") == "Thursday is better"
        left, right = theirs.bounding_box(), yours.bounding_box()
        assert left["x"] + left["width"] <= right["x"] and abs(left["y"] - right["y"]) < 2  # side by side
        snap(admin, "conflict")

        admin.fill("#text", mine.replace("line 5: Thursday", "line 5: Tuesday and Thursday"))
        admin.get_by_role("button", name="Save my version").click()
        expect(admin).to_have_url(re.compile(r"/Plan$"))
        content = admin.locator("article .content")
        expect(content).to_contain_text("line 5: Tuesday and Thursday")
        expect(content).to_contain_text("my own closing line")
    finally:
        admin.context.close()


# -- 5. history, diffs, blame, revert ----------------------------------------------------

def test_history_diff_blame_revert(editor, live_wiki):
    live_wiki.put_page("Budget", "# Budget\n\nTotal: 100 euros.\nApproved by nobody.\n", "First budget",
                       user="admin")
    live_wiki.put_page("Budget", "# Budget\n\nTotal: 120 euros.\nApproved by nobody.\n", "More coffee")
    live_wiki.put_page("Budget", "# Budget\n\nTotal: 120 euros.\nApproved by Dana.\n", "Approval")
    page = editor
    page.goto(live_wiki.url("/Budget"))
    page.get_by_role("link", name="History").click()
    expect(page.locator("h1")).to_have_text("History of Budget")
    rows = page.locator("table.history tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("Approval")
    expect(rows.nth(2)).to_contain_text("First budget")
    snap(page, "history")

    # compare the oldest with the newest
    rows.nth(2).locator("input[name=from]").check()
    rows.nth(0).locator("input[name=to]").check()
    page.get_by_role("button", name="Compare selected revisions").click()
    expect(page.locator("h1")).to_have_text("Changes to Budget")
    inline = page.locator("table.diff-inline")
    expect(inline.locator("tr.del del").first).to_have_text("100")
    expect(inline.locator("tr.ins ins").first).to_have_text("120")
    expect(inline.locator("tr.ins", has_text="Approved by Dana.")).to_have_count(1)
    snap(page, "diff")

    page.get_by_role("link", name="Side by side").click()
    side = page.locator("table.diff-side")
    expect(side).to_be_visible()
    row = side.locator("tr", has=page.locator("td.del", has_text="100"))
    expect(row.locator("td.ins")).to_contain_text("120 euros")
    snap(page, "diff-side")

    # blame: who wrote which line
    page.goto(live_wiki.url("/Budget"))
    page.get_by_text("More", exact=True).click()
    page.get_by_role("link", name="Who wrote what").click()
    blame = page.locator("table.blame")
    expect(blame.locator("tr", has_text="Total: 120 euros.")).to_contain_text("editor")
    expect(blame.locator("tr", has_text="# Budget")).to_contain_text("admin")
    snap(page, "blame")

    # revert to the first version
    page.get_by_role("link", name="History").click()
    page.locator("table.history tbody tr").nth(2).get_by_role("link", name="revert to this").click()
    expect(page.locator("h1")).to_have_text("Revert Budget")
    expect(page.locator("table.diff")).to_contain_text("100")
    page.get_by_role("button", name="Revert").click()
    expect(page).to_have_url(re.compile(r"/Budget$"))
    expect(page.locator("article .content")).to_contain_text("Total: 100 euros.")
    expect(page.locator("article .content")).to_contain_text("Approved by nobody.")
    page.get_by_role("link", name="History").click()
    expect(page.locator("table.history tbody tr")).to_have_count(4)


# -- 6. search ----------------------------------------------------------------------------

def test_search_from_the_header(editor, live_wiki):
    live_wiki.put_page("Ops/Backups", "# Backups\n\nThe nightly snapshot of the quokka database runs at 02:00.\n")
    live_wiki.put_page("Ops/Monitoring", "# Monitoring\n\nAlerts go to the on-call phone.\n")
    page = editor
    page.goto(live_wiki.url("/Home"))
    box = page.get_by_role("banner").get_by_role("searchbox", name="Search")
    box.fill("quokka snapshot")
    box.press("Enter")
    expect(page).to_have_url(re.compile(r"/-/search\?q=quokka"))
    hits = page.locator("ol.results li.result")
    expect(hits).to_have_count(1)
    marks = hits.first.locator(".snippet mark")
    expect(marks.first).to_be_visible()
    assert {m.lower() for m in marks.all_inner_texts()} >= {"quokka", "snapshot"}
    assert hits.first.locator(".snippet mark").first.evaluate("m => getComputedStyle(m).backgroundColor") \
        not in ("rgba(0, 0, 0, 0)", "transparent")
    snap(page, "search")
    hits.first.get_by_role("link", name="Backups").click()
    expect(page).to_have_url(re.compile(r"/Ops/Backups$"))
    expect(page.locator("article .content")).to_contain_text("quokka database")


# -- 7. talk: a thread about a passage ----------------------------------------------------

def test_talk_thread_on_a_selected_passage(editor, live_wiki):
    live_wiki.put_page("Roadmap", "# Roadmap\n\nWe ship the mobile app in March.\n\nEverything else waits.\n",
                       user="admin")
    page = editor
    page.goto(live_wiki.url("/Roadmap"))
    passage = page.locator("article .content p", has_text="mobile app")
    passage.click(click_count=3)  # select the paragraph
    discuss = page.get_by_role("button", name="Discuss")
    expect(discuss).to_be_visible()
    discuss.click()

    expect(page).to_have_url(re.compile(r"/-/talk/Roadmap\?.*quote=.*#new-thread"))
    expect(page.get_by_label("About this passage")).to_have_value("We ship the mobile app in March.")
    page.get_by_label("Title").fill("Is March realistic?")
    page.get_by_label("Comment").fill("The **store review** alone takes two weeks.")
    page.get_by_role("button", name="Start thread").click()

    expect(page.locator("h1")).to_have_text("Is March realistic?")
    expect(page.locator(".flash-ok")).to_have_text("Thread started.")
    expect(page.locator("figure.talk-quote blockquote")).to_have_text("We ship the mobile app in March.")
    expect(page.locator(".comment-body strong")).to_have_text("store review")
    thread_url = page.url

    # reply to the opening comment
    first = page.locator("li.comment").first
    first.locator("summary", has_text="Reply").click()
    first.get_by_role("textbox").fill("Then we say April.")
    first.get_by_role("button", name="Post reply").click()
    expect(page.locator(".flash-ok")).to_have_text("Reply posted.")
    reply = page.locator("li.comment.reply")
    expect(reply).to_contain_text("Then we say April.")
    snap(page, "thread")

    # edit the reply
    reply.get_by_role("link", name="Edit").click()
    page.get_by_label("Edit your comment").fill("Then we say April, to be safe.")
    page.get_by_role("button", name="Save").click()
    reply = page.locator("li.comment.reply")
    expect(reply.locator(".comment-body")).to_have_text("Then we say April, to be safe.")
    expect(reply.locator(".edited")).to_be_visible()

    # resolve
    page.get_by_role("button", name="Resolve").click()
    expect(page.locator(".thread-meta .tag-resolved")).to_be_visible()
    expect(page.get_by_role("button", name="Reopen")).to_be_visible()

    page.goto(live_wiki.url("/-/talk/Roadmap"))
    expect(page.locator(".meta")).to_contain_text("0 open threads · 1 resolved")
    page.locator(".resolved-threads summary").click()
    expect(page.get_by_role("link", name="Is March realistic?")).to_be_visible()
    snap(page, "talk")
    assert thread_url.startswith(live_wiki.url("/-/talk/Roadmap?thread="))


# -- 8. watchlist -------------------------------------------------------------------------

def test_watch_a_page_and_see_another_users_edit(editor, live_wiki):
    live_wiki.put_page("Office", "# Office\n\nThe office opens at nine.\n", user="admin")
    page = editor
    page.goto(live_wiki.url("/-/watchlist"))  # start afresh: other flows' pages are watched too
    if page.get_by_role("button", name="Mark all as seen").count():
        page.get_by_role("button", name="Mark all as seen").click()
        expect(page.locator(".watch-empty")).to_be_visible()
    page.goto(live_wiki.url("/Office"))
    page.get_by_role("button", name="Watch").click()
    expect(page.get_by_role("button", name="Unwatch")).to_have_attribute("aria-pressed", "true")

    live_wiki.put_page("Office", "# Office\n\nThe office opens at eight.\n", "Earlier start", user="admin")
    page.goto(live_wiki.url("/Home"))
    badge = page.locator("header .watchlist-link .unread-badge")
    expect(badge).to_have_text("1")
    page.get_by_role("banner").get_by_role("link", name=re.compile("^Watchlist")).click()
    card = page.locator("section.watch-page", has_text="Office")
    expect(card.locator("li")).to_contain_text("admin")
    expect(card.locator("li")).to_contain_text("Earlier start")
    snap(page, "watchlist")
    card.get_by_role("link", name="diff").click()
    expect(page.locator("h1")).to_have_text("Changes to Office")
    expect(page.locator("table.diff ins")).to_contain_text("eight")

    page.goto(live_wiki.url("/Office"))  # looking at the page marks it seen
    page.goto(live_wiki.url("/-/watchlist"))
    expect(page.locator("section.watch-page", has_text="Office")).to_have_count(0)
    expect(page.locator("header .watchlist-link .unread-badge")).to_have_count(0)


# -- 9. rename ----------------------------------------------------------------------------

def test_rename_and_follow_the_old_link(editor, live_wiki):
    live_wiki.put_page("Drafts/Vision", "# Vision\n\nWhere we go.\n")
    live_wiki.put_page("Strategy", "Read the [[Drafts/Vision]].\n")
    page = editor
    page.goto(live_wiki.url("/Drafts/Vision"))
    page.get_by_text("More", exact=True).click()
    page.get_by_role("link", name="Rename").click()
    page.get_by_label("New name").fill("Company/Vision")
    page.get_by_role("button", name="Rename").click()
    expect(page).to_have_url(re.compile(r"/Company/Vision$"))
    expect(page.locator("article .content")).to_contain_text("Where we go.")

    page.goto(live_wiki.url("/Strategy"))  # the old link still arrives
    link = page.locator("article .content a", has_text="Drafts/Vision")
    expect(link).not_to_have_class(re.compile("missing"))
    link.click()
    expect(page).to_have_url(re.compile(r"/Company/Vision\?redirected_from=Drafts"))
    expect(page.locator(".note")).to_contain_text("Redirected from Drafts/Vision")
    page.goto(live_wiki.url("/Drafts/Vision"))
    expect(page).to_have_url(re.compile(r"/Company/Vision"))


# -- 10. log out ---------------------------------------------------------------------------

def test_log_out_and_editing_is_refused(editor, live_wiki):
    live_wiki.put_page("Rules", "# Rules\n\nBe kind.\n")
    page = editor
    page.goto(live_wiki.url("/Rules"))
    expect(page.get_by_role("link", name="Edit", exact=True)).to_be_visible()
    page.locator("summary", has_text="editor").click()
    page.get_by_role("button", name="Log out").click()
    expect(page.locator(".flash-ok")).to_have_text("You are logged out.")
    expect(page.get_by_role("banner").get_by_role("link", name="Log in")).to_be_visible()

    page.goto(live_wiki.url("/Rules"))
    expect(page.get_by_role("link", name="Edit", exact=True)).to_have_count(0)
    page.goto(live_wiki.url("/-/edit/Rules"))  # straight to the editor: sent to log in
    expect(page).to_have_url(re.compile(r"/-/login\?next="))
    expect(page.locator("h1")).to_have_text("Log in")
    snap(page, "login")
    # a form posted from an old tab is refused as well, and the page is unchanged
    status = page.evaluate("""async () => (await fetch('/-/edit/Rules', {method: 'POST', redirect: 'manual',
        body: new URLSearchParams({text: 'vandalized'})})).status""")
    assert status in (0, 302, 400, 401, 403)  # 0: an opaque redirect (to the login page)
    assert "Be kind." in live_wiki.server.request("GET", "/-/api/v1/pages/Rules",
                                                  token=live_wiki.tokens["reader"])[1]["markdown"]
