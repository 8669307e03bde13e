"""Accessibility and phone width, in a real Chromium against a real gunicorn server.

- axe-core on each main screen (page view, edit, history, diffs, blame, search, talk, thread,
  watchlist, login): no violation of impact "serious" or "critical", in light and dark mode.
- Keyboard: the skip link comes first and lands in <main>, focus is visible, the shortcuts
  `e` (edit), `h` (history) and `/` (search) work, and never while one types in a field.
- Landmarks and labels: one header, nav, main and footer; every form control has a name.
- At 390 px wide nothing overflows horizontally and the header's controls neither overlap
  nor leave the window.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest

from tests.browser import (DESKTOP, PHONE, browser, describe_violations, layout_problems,  # noqa: F401
                           live_wiki, run_axe, snap)

expect = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[test]' brings playwright").expect

GUIDE = """# Deploy guide

How we ship the **frobnicator** to production.

| step | who | when |
|------|-----|------|
| build | CI | every push |
| deploy | on-call | Tuesdays |

```python
def deploy(target):
    return f"deploying {target}"
```

See [[Runbook]] and [[Home]].

## Rollback

Roll back with `wiki revert`; nothing is ever lost.
"""


class Screens:
    """The URLs of the main screens, over pages and a thread made through the API."""

    def __init__(self, wiki) -> None:
        first = wiki.put_page("Guide", GUIDE, "First version")
        wiki.put_page("Guide", GUIDE.replace("Tuesdays", "Tuesdays and Thursdays") + "\nA new line.\n",
                      "More deploy days")
        old = first["revision"]
        wiki.put_page("Team/Members", "# Members\n\nWho is who.\n")
        status, thread = wiki.server.request(
            "POST", "/-/api/v1/pages/Guide/talk",
            {"title": "Why only Tuesdays?", "body": "Could we deploy on **Thursdays** too?",
             "quote": "How we ship the frobnicator to production."}, token=wiki.tokens["reader"])
        assert status == 201, thread
        wiki.server.request("POST", f"/-/api/v1/pages/Guide/talk/{thread['id']}/comments",
                            {"body": "Yes, [[Runbook]] says so."}, token=wiki.tokens["editor"])
        self.urls = {
            "page": "/Guide",
            "edit": "/-/edit/Guide",
            "history": "/-/history/Guide",
            "diff": f"/-/diff/Guide?from={old}&view=inline",
            "diff-side": f"/-/diff/Guide?from={old}&view=side",
            "blame": "/-/blame/Guide",
            "search": "/-/search?q=frobnicator",
            "talk": "/-/talk/Guide",
            "thread": f"/-/talk/Guide?thread={quote(thread['id'])}",
            "watchlist": "/-/watchlist",
            "missing": "/Runbook",
            "new": "/-/new",
            "recent": "/-/recent",
            "pages": "/-/pages",
            "login": "/-/login",
            "register": "/-/register",
        }


@pytest.fixture(scope="module")
def screens(live_wiki) -> Screens:
    return Screens(live_wiki)


@pytest.fixture(scope="module")
def contexts(browser, live_wiki):
    """Browser contexts by (who, color scheme), made when first asked for, closed at the end.
    axe is injected as an inline script, which the site's CSP forbids: these contexts bypass it."""
    made = {}

    def get(who: str = "editor", scheme: str = "light", **options):
        key = (who, scheme, tuple(sorted(options.items())))
        if key not in made:
            context = browser.new_context(viewport=DESKTOP, color_scheme=scheme, **options)
            context.set_default_timeout(15_000)
            page = context.new_page()
            if who != "anonymous":
                live_wiki.login(page, who)
            made[key] = page
        return made[key]

    yield get
    for page in made.values():
        page.context.close()


def open_screen(page, wiki, screens, name: str):
    response = page.goto(wiki.url(screens.urls[name]))
    assert response.status == (404 if name == "missing" else 200), (name, response.status)
    page.wait_for_load_state("load")
    return page


SCREENS = ["page", "edit", "history", "diff", "diff-side", "blame", "search", "talk", "thread",
           "watchlist", "missing", "new", "recent", "pages", "login", "register"]
ANONYMOUS_ONLY = {"login", "register"}  # a logged-in visitor is not shown these
ACCOUNT_ONLY = {"edit", "watchlist", "new"}


def who_sees(name: str) -> str:
    return "anonymous" if name in ANONYMOUS_ONLY else "editor"


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_nothing_serious(contexts, live_wiki, screens, scheme):
    failures = []
    for name in SCREENS:
        page = contexts(who_sees(name), scheme, bypass_csp=True)
        open_screen(page, live_wiki, screens, name)
        violations = run_axe(page)
        if violations:
            failures.append(f"--- {name} ({scheme}) {page.url}\n{describe_violations(violations)}")
    assert not failures, "axe-core found serious or critical violations:\n" + "\n".join(failures)


def test_axe_on_the_conflict_screen(contexts, live_wiki, screens):
    live_wiki.put_page("Clash", "one\ntwo\nthree\n")
    page = contexts("editor", "light", bypass_csp=True)
    page.goto(live_wiki.url("/-/edit/Clash"))
    live_wiki.put_page("Clash", "one\nTWO (theirs)\nthree\n", user="admin")
    page.fill("#text", "one\ntwo (mine)\nthree\n")
    page.locator("form.edit-form button[type=submit]").click()
    expect(page.locator("h1")).to_have_text("Edit conflict")
    violations = run_axe(page)
    assert not violations, describe_violations(violations)


@pytest.mark.parametrize("who", ["editor", "anonymous"])
def test_phone_width_nothing_overflows(contexts, live_wiki, screens, who):
    """At 390 px: no horizontal overflow, header controls apart and inside the window, and
    axe finds nothing serious in the narrow layout either."""
    page = contexts(who, "light", bypass_csp=True)
    page.set_viewport_size(PHONE)
    failures = []
    try:
        for name in SCREENS:
            if (who == "anonymous" and name in ACCOUNT_ONLY) or (who != "anonymous" and name in ANONYMOUS_ONLY):
                continue
            open_screen(page, live_wiki, screens, name)
            problems = layout_problems(page)
            violations = run_axe(page) if who == "editor" or name in ANONYMOUS_ONLY else []
            if violations:
                problems.append(describe_violations(violations))
            if problems:
                failures.append(f"{name}: " + "; ".join(problems))
            if who == "editor" or name in ANONYMOUS_ONLY:
                snap(page, f"a11y-{name}")
    finally:
        page.set_viewport_size(DESKTOP)
    assert not failures, "at 390 px:\n" + "\n".join(failures)


def test_skip_link_is_first_and_lands_in_main(contexts, live_wiki, screens):
    page = contexts("editor")
    open_screen(page, live_wiki, screens, "page")
    page.keyboard.press("Tab")
    skip = page.evaluate("""() => { const a = document.activeElement;
        return {text: a.textContent.trim(), href: a.getAttribute('href'), visible: a.getBoundingClientRect().left >= 0}; }""")
    assert skip["text"] == "Skip to content" and skip["visible"], skip
    target = skip["href"].lstrip("#")
    assert page.evaluate(f"document.getElementById({target!r}).tagName") == "MAIN"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == target
    page.keyboard.press("Tab")  # the next stop is inside <main>, past the header's links
    assert page.evaluate("!!document.activeElement.closest('main')"), page.evaluate("document.activeElement.outerHTML")


def test_focus_is_visible(contexts, live_wiki, screens):
    page = contexts("editor")
    open_screen(page, live_wiki, screens, "page")
    seen = []
    for _ in range(12):  # skip link, brand, search, header links, menus, page actions
        page.keyboard.press("Tab")
        ring = page.evaluate("""() => { const a = document.activeElement, s = getComputedStyle(a);
            return {what: a.tagName + ' ' + (a.textContent || a.placeholder || '').trim().slice(0, 20),
                    style: s.outlineStyle, width: parseFloat(s.outlineWidth)}; }""")
        seen.append(ring)
        assert ring["style"] not in ("none", "hidden") and ring["width"] >= 2, ring
    assert {r["what"].split()[0] for r in seen} >= {"A", "INPUT", "SUMMARY"}, seen


def test_shortcuts(contexts, live_wiki, screens):
    page = contexts("editor")
    open_screen(page, live_wiki, screens, "page")
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "site-q"
    assert page.input_value("#site-q") == ""  # the slash itself is not typed
    page.keyboard.type("eh")  # typing in a field: letters, not shortcuts
    assert page.input_value("#site-q") == "eh" and page.url.endswith("/Guide")
    page.keyboard.press("Escape")
    page.evaluate("document.activeElement.blur()")

    page.keyboard.press("Control+e")  # with a modifier: the browser's, not ours
    page.wait_for_timeout(100)
    assert page.url.endswith("/Guide")

    with page.expect_navigation():
        page.keyboard.press("h")
    assert page.url.endswith("/-/history/Guide")
    page.go_back()
    with page.expect_navigation():
        page.keyboard.press("e")
    assert page.url.endswith("/-/edit/Guide")
    page.wait_for_load_state("load")
    assert page.evaluate("document.activeElement.id") == "text"  # the editor has focus:
    page.keyboard.type("h")                                      # keys go into the text
    assert page.url.endswith("/-/edit/Guide") and page.input_value("#text").startswith("h")

    # the talk page and diffs offer `h` too; a reader (no edit button) gets no `e`
    open_screen(page, live_wiki, screens, "talk")
    with page.expect_navigation():
        page.keyboard.press("h")
    assert page.url.endswith("/-/history/Guide")
    reader = contexts("reader")
    open_screen(reader, live_wiki, screens, "page")
    reader.keyboard.press("e")
    reader.wait_for_timeout(150)
    assert reader.url.endswith("/Guide")


def test_landmarks_and_labels(contexts, live_wiki, screens):
    page = contexts("editor")
    for name in ("page", "edit", "search", "thread"):
        open_screen(page, live_wiki, screens, name)
        for role, label in (("banner", None), ("main", None), ("contentinfo", None), ("search", None),
                            ("navigation", "Wiki")):
            found = page.get_by_role(role, name=label, exact=True) if label else page.get_by_role(role)
            assert found.count() >= 1, (name, role, label)
        assert page.get_by_role("banner").count() == 1 and page.get_by_role("main").count() == 1
        assert page.get_by_role("searchbox", name="Search", exact=True).count() == 1, name
        unnamed = page.evaluate("""() => [...document.querySelectorAll('input:not([type=hidden]), textarea, select')]
            .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                         && !e.getAttribute('aria-labelledby')).map(e => e.outerHTML.slice(0, 120))""")
        assert not unnamed, (name, unnamed)
    assert page.get_by_role("textbox", name="Page text (markdown)").count() == 0  # not on the thread page
    open_screen(page, live_wiki, screens, "edit")
    assert page.get_by_role("textbox", name="Page text (markdown)").count() == 1
    expect(page.locator("#message")).to_have_accessible_name("Summary")


def test_page_list_folder_toggles_apart_from_its_link(contexts, live_wiki, screens):
    page = contexts("editor")
    open_screen(page, live_wiki, screens, "pages")
    folder = page.locator("li.folder", has=page.get_by_role("link", name="Team/", exact=True))
    toggle = folder.locator("summary")
    expect(toggle).to_have_accessible_name("Pages in Team/")
    expect(folder.get_by_role("link", name="Members")).to_be_visible()
    toggle.focus()
    page.keyboard.press("Enter")
    expect(folder.get_by_role("link", name="Members")).to_be_hidden()
    page.keyboard.press("Enter")
    expect(folder.get_by_role("link", name="Members")).to_be_visible()
    folder.get_by_role("link", name="Team/", exact=True).click()
    expect(page).to_have_url(re.compile(r"/-/pages/Team"))
