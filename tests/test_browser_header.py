"""The site header in a real Chromium, for every combination of what it shows, at phone (390 px)
and desktop (1280 px) width (and, for the fullest headers, the widths in between).

What the header holds depends on the settings and the visitor: "New page" when the visitor may
edit (WIKI_WRITE anonymous or editor), "Log in" for anonymous visitors and "Register" unless
WIKI_REGISTRATION is closed; for an account the watchlist with its unread count, the account's
own links and "Log out", and "Administration" for an admin. Whatever the combination:

- nothing overflows the window and no two header controls overlap (`layout_problems`), with the
  menus closed and opened;
- every item is on screen, or in a menu that opens by a click (a <details> disclosure, so it
  needs no script, which one test turns off), and then inside the window, neither cut off nor
  covered, and at least 24 px wide and tall;
- the unread count shows without opening anything;
- the keyboard reaches every item: Tab through the header, Enter on a closed menu opens it.

One server per combination of settings, started when a test first needs it and shared by the
module. The accounts' unread counts come from pages that someone else creates after they started
watching them (pushed over git: 128 pages are one commit).
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.browser import (DESKTOP, PASSWORD, PHONE, LiveWiki, browser, layout_problems, screenshot_dir,  # noqa: F401
                           snap)
from tests.serving import WikiServer

expect = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[test]' brings playwright").expect

SERVERS = {
    # anonymous visitors may edit; anyone may register
    "open": dict(WIKI_WRITE="anonymous", WIKI_REGISTRATION="open"),
    # anonymous visitors may edit; no registration
    "open-closed": dict(WIKI_WRITE="anonymous", WIKI_REGISTRATION="closed"),
    # editors edit; registration waits for an admin (the defaults); the accounts with unread counts
    "editors": dict(WIKI_WRITE="editor", WIKI_REGISTRATION="approval"),
    # editors edit, no registration; a long wiki name
    "editors-closed": dict(WIKI_WRITE="editor", WIKI_REGISTRATION="closed", WIKI_NAME="Northwind Engineering Handbook"),
}
UNREAD = {"editor": 12, "reader": 12, "admin": 128}  # on the "editors" server; the admin has the fullest header

# header items: (role, accessible name)
SEARCH = ("searchbox", "Search")
ALL_PAGES = ("link", "All pages")
RECENT = ("link", "Recent changes")
NEW_PAGE = ("link", "New page")
LOG_IN = ("link", "Log in")
REGISTER = ("link", "Register")
WATCHLIST = ("link", re.compile(r"^Watchlist"))
YOUR_EDITS = ("link", "Your edits")
ACCOUNT = ("link", "Account")
ADMIN = ("link", "Administration")
LOG_OUT = ("button", "Log out")
EVERY_ITEM = [SEARCH, ALL_PAGES, RECENT, NEW_PAGE, LOG_IN, REGISTER, WATCHLIST, YOUR_EDITS, ACCOUNT, ADMIN, LOG_OUT]
ALWAYS = [SEARCH, ALL_PAGES, RECENT]
ACCOUNT_ITEMS = [WATCHLIST, YOUR_EDITS, ACCOUNT, LOG_OUT]


@dataclass(frozen=True)
class Case:
    id: str
    server: str
    who: str  # anonymous | editor | reader | admin
    shows: tuple

    @property
    def hides(self) -> list:
        return [item for item in EVERY_ITEM if item not in self.shows]

    @property
    def unread(self) -> int:
        return UNREAD.get(self.who, 0) if self.server == "editors" else 0


CASES = [
    Case("anonymous-editing-registration-open", "open", "anonymous", (*ALWAYS, NEW_PAGE, LOG_IN, REGISTER)),
    Case("anonymous-editing-registration-closed", "open-closed", "anonymous", (*ALWAYS, NEW_PAGE, LOG_IN)),
    Case("anonymous-reading-registration-approval", "editors", "anonymous", (*ALWAYS, LOG_IN, REGISTER)),
    Case("anonymous-reading-registration-closed", "editors-closed", "anonymous", (*ALWAYS, LOG_IN)),
    Case("editor-12-unread", "editors", "editor", (*ALWAYS, NEW_PAGE, *ACCOUNT_ITEMS)),
    Case("reader-12-unread", "editors", "reader", (*ALWAYS, *ACCOUNT_ITEMS)),
    Case("admin-128-unread", "editors", "admin", (*ALWAYS, NEW_PAGE, *ACCOUNT_ITEMS, ADMIN)),
]
WIDTHS = {"390": PHONE, "1280": DESKTOP}
BETWEEN = [320, 360, 480, 600, 700, 768, 820, 900, 901, 1024]  # checked for the fullest headers


def _git(cwd: Path, *args: str) -> None:
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", GIT_AUTHOR_NAME="Someone Else",
               GIT_AUTHOR_EMAIL="someone@example.org", GIT_COMMITTER_NAME="Someone Else",
               GIT_COMMITTER_EMAIL="someone@example.org")
    done = subprocess.run(["git", "-c", "credential.helper=", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, f"git {args[0]} failed: {done.stderr[-2000:]}"


def _watch(wiki, browser, who: str, pages: list[str]) -> None:
    """`who` watches `pages` through the web (the watch button's form)."""
    page = wiki.new_page(browser, who)
    try:
        page.goto(wiki.url("/Home"))
        token = page.locator("input[name=csrf_token]").first.input_value()
        for name in pages:  # the page it leads back to (missing yet) shows, and so clears, the message
            answer = page.request.post(wiki.url("/-/watch/" + quote(name)),
                                       form={"csrf_token": token, "action": "watch"})
            assert "is on your watchlist now" in answer.text(), (name, answer.status)
    finally:
        page.context.close()


def _fill_watchlists(wiki, browser, tmp: Path) -> None:
    """The accounts watch pages (UNREAD of them each) that someone else then creates, in one
    commit pushed over git: each of them is unread."""
    pages = [f"Pile/Page {n:03}" for n in range(1, max(UNREAD.values()) + 1)]
    for who, count in UNREAD.items():
        _watch(wiki, browser, who, pages[:count])
    remote = wiki.base.replace("http://", f"http://admin:{quote(PASSWORD, safe='')}@") + "/-/wiki.git"
    clone = tmp / "clone"
    _git(tmp, "clone", "-q", remote, str(clone))
    for name in pages:
        path = clone / (name + ".md")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# {name}\n\nA page of the pile.\n", encoding="utf-8")
    _git(clone, "add", "-A")
    _git(clone, "commit", "-q", "-m", "Pile of pages")
    _git(clone, "push", "-q", "origin", "HEAD")


def _start(name: str, tmp: Path):
    """A server with SERVERS[name]; the "editors" one with the accounts admin, editor and reader."""
    settings = dict(SERVERS[name], WIKI_SEMANTIC="0", WIKI_LOGIN_LIMIT_ADDRESS="10000 per minute")
    wiki = LiveWiki(WikiServer(tmp, workers=2, **settings))
    if name == "editors":
        for user, role in (("admin", "admin"), ("editor", "editor"), ("reader", "reader")):
            wiki.server.cli("user", "add", user, "--email", f"{user}@example.org", "--role", role,
                            "--password-stdin", input=PASSWORD + "\n")
    wiki.server.start(timeout=120)  # the machine may be busy with other browser tests
    return wiki


@pytest.fixture(scope="module")
def wikis(browser, tmp_path_factory):
    """The servers by name, each started when first asked for and stopped at the end."""
    started = {}

    def get(name: str):
        if name not in started:
            tmp = tmp_path_factory.mktemp(f"header-{name}")
            started[name] = wiki = _start(name, tmp)
            if name == "editors":
                _fill_watchlists(wiki, browser, tmp)
        return started[name]

    yield get
    for wiki in started.values():
        wiki.server.stop()


@pytest.fixture(scope="module")
def visitors(browser, wikis):
    """A logged-in (or anonymous) browser page per case, made when first asked for."""
    made = {}

    def get(case: Case):
        if case.id not in made:
            wiki = wikis(case.server)
            made[case.id] = wiki.new_page(browser, None if case.who == "anonymous" else case.who)
        return wikis(case.server), made[case.id]

    yield get
    for page in made.values():
        page.context.close()


def _open_home(wiki, page, width: int) -> None:
    page.set_viewport_size({"width": width, "height": PHONE["height"] if width < 700 else DESKTOP["height"]})
    answer = page.goto(wiki.url("/Home"))
    assert answer.status == 200, answer.status
    page.wait_for_load_state("load")


def _find(page, item):
    role, name = item
    return page.get_by_role("banner").get_by_role(role, name=name, exact=True) if isinstance(name, str) \
        else page.get_by_role("banner").get_by_role(role, name=name)


def _reach(page, item):
    """The item as a person would reach it: on screen, or in the first menu that shows it when opened."""
    found = _find(page, item)
    if found.count():
        return found
    for summary in page.get_by_role("banner").locator("details > summary").all():
        if not summary.is_visible() or summary.evaluate("s => s.parentElement.open"):
            continue
        summary.click()
        if found.count():
            return found
        summary.click()  # not in there: close it again
    return found


def _box_problems(page, locator, label: str) -> list[str]:
    box = locator.bounding_box()
    view = page.viewport_size
    if box is None:
        return [f"{label} has no box"]
    problems = []
    if box["x"] < -1 or box["x"] + box["width"] > view["width"] + 1 or box["y"] < -1 \
            or box["y"] + box["height"] > view["height"] + 1:
        problems.append(f"{label} is outside the {view['width']}x{view['height']} window ({box})")
    if box["width"] < 24 or box["height"] < 24:
        problems.append(f"{label} is a {box['width']:.0f}x{box['height']:.0f} px target (under 24 px)")
    hidden = locator.evaluate(HIDDEN_PART)
    if hidden:
        problems.append(f"{label} is {hidden}")
    return problems


# Whether part of an element is cut off by an ancestor that clips (a scrolling or overflow-hidden
# box), or its middle is covered by something else.
HIDDEN_PART = """e => {
  const r = e.getBoundingClientRect();
  let left = r.left, right = r.right, top = r.top, bottom = r.bottom;
  for (let a = e.parentElement; a && a !== document.body; a = a.parentElement) {
    const s = getComputedStyle(a);
    if (s.overflowX === 'visible' && s.overflowY === 'visible') continue;
    const c = a.getBoundingClientRect();
    left = Math.max(left, c.left); right = Math.min(right, c.right);
    top = Math.max(top, c.top); bottom = Math.min(bottom, c.bottom);
  }
  if (right < r.right - 1 || left > r.left + 1 || bottom < r.bottom - 1 || top > r.top + 1)
    return `cut off: ${Math.round(Math.max(0, right - left))} of ${Math.round(r.width)} px wide shown`;
  const hit = document.elementFromPoint((r.left + r.right) / 2, (r.top + r.bottom) / 2);
  if (hit && !e.contains(hit) && !hit.contains(e)) return `covered by ${hit.tagName.toLowerCase()}.${hit.className}`;
  return '';
}"""


def _label(item) -> str:
    name = item[1]
    return name if isinstance(name, str) else name.pattern.strip("^")


def _item_problems(page, case: Case) -> list[str]:
    """Every item the case shows is reachable (opening menus as needed), inside the window and
    big enough to tap; then, with the menus open, nothing overflows and no item it hides is there."""
    problems = []
    for item in case.shows:
        found = _reach(page, item)
        if found.count() != 1:
            problems.append(f"{_label(item)}: {found.count()} shown (opening the menus)")
            continue
        problems += _box_problems(page, found, _label(item))
        if item == WATCHLIST and case.unread and str(case.unread) not in found.inner_text():
            problems.append(f"the watchlist link does not carry the count {case.unread}: {found.inner_text()!r}")
    problems += [f"menus open: {p}" for p in layout_problems(page)]
    for summary in page.get_by_role("banner").locator("details:not([open]) > summary").all():
        if summary.is_visible():
            summary.click()
    for item in case.hides:
        if _find(page, item).count():
            problems.append(f"{_label(item)} is shown but should not be")
    return problems


@pytest.mark.parametrize("width", list(WIDTHS))
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_every_item_fits_and_is_reachable(visitors, case, width):
    wiki, page = visitors(case)
    _open_home(wiki, page, WIDTHS[width]["width"])
    problems = [f"menus closed: {p}" for p in layout_problems(page)]
    snap(page, f"header-{case.id}")

    # The unread count shows without opening a menu.
    if case.unread:
        count = page.get_by_role("banner").locator(".unread-badge", has_text=re.compile(rf"^\s*{case.unread}\s*$"))
        if not any(c.is_visible() for c in count.all()):
            problems.append(f"the unread count {case.unread} is not shown in the header")

    problems += _item_problems(page, case)
    if width == "390":
        page.screenshot(path=str(screenshot_dir() / f"header-{case.id}-390-open.png"))
    assert not problems, f"{case.id} at {width} px:\n" + "\n".join(problems)


@pytest.mark.parametrize("width", list(WIDTHS))
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_the_keyboard_reaches_every_item(visitors, case, width):
    """From the skip link, Tab through the header (Enter opens a closed menu) until focus leaves it."""
    wiki, page = visitors(case)
    _open_home(wiki, page, WIDTHS[width]["width"])
    reached = []
    page.keyboard.press("Tab")  # the skip link
    for _ in range(40):
        page.keyboard.press("Tab")
        state = page.evaluate("""() => { const a = document.activeElement;
            const summary = a.tagName === 'SUMMARY';
            return {inHeader: !!a.closest('header.site'), closed: summary && !a.parentElement.open,
                    role: a.tagName === 'INPUT' ? 'searchbox' : a.tagName === 'BUTTON' ? 'button' : 'link',
                    name: (a.getAttribute('aria-label') || a.innerText || a.placeholder || '').trim()}; }""")
        if not state["inHeader"]:
            break
        if state["closed"]:
            page.keyboard.press("Enter")
        reached.append((state["role"], state["name"]))
    missing = []
    for role, name in case.shows:
        hit = any(r == role and (n == name if isinstance(name, str) else name.search(n)) for r, n in reached)
        if not hit:
            missing.append(_label((role, name)))
    assert not missing, f"{case.id} at {width} px: the keyboard never reaches {missing}; it reached {reached}"
    page.keyboard.press("Escape")  # an open menu closes
    expect(page.locator("header.site details[open]")).to_have_count(0)


# the headers with the most items, anonymous and logged in
FULLEST = [c for c in CASES if c.id in ("anonymous-editing-registration-open", "admin-128-unread")]


@pytest.mark.parametrize("case", FULLEST, ids=lambda c: c.id)
def test_the_menu_works_without_script(browser, wikis, case):
    """At phone width with JavaScript off, the menu still opens and holds every item."""
    wiki = wikis(case.server)
    page = wiki.new_page(browser, None, viewport=PHONE, java_script_enabled=False)
    try:
        if case.who != "anonymous":
            wiki.login(page, case.who)
        _open_home(wiki, page, PHONE["width"])
        problems = layout_problems(page) + _item_problems(page, case)
        assert not problems, f"{case.id} without script:\n" + "\n".join(problems)
    finally:
        page.context.close()


@pytest.mark.parametrize("case", FULLEST, ids=lambda c: c.id)
def test_widths_in_between(visitors, case):
    """The fullest headers at the widths between phone and desktop: nothing overflows or overlaps."""
    wiki, page = visitors(case)
    failures = []
    for width in BETWEEN:
        _open_home(wiki, page, width)
        problems = layout_problems(page) + _item_problems(page, case)
        if problems:
            failures.append(f"{width} px: " + "; ".join(problems))
    assert not failures, "\n".join(failures)
