"""No script injection, anywhere.

Every payload of ../shared/corpora/xss-payloads.txt goes through every place a user can write (page
body, page name, edit summary, front-matter tags, talk thread title, quote and body, comment body and
its edit, account name, search query), and the pages showing the results are loaded in Chromium
with its network limited to the wiki's own 127.0.0.1 port. What counts as an injection is described
in tests/xss_payloads.py: a dialog, an injected handler or script that runs (payloads call a
recorder, `__hit(<index>, ...)`, instead of alert), markup that could run script or load a foreign
one, or a foreign request other than an image.

The pages are loaded with the Content-Security-Policy bypassed, so the test holds the escaping and
the sanitizer on their own; the policy itself is tested separately (and one pass runs with it on).
Payloads go in batches (100 to a page, two to a comment, titles joined up to 200 characters); each
one is also rendered alone through the editor's preview. Every response a write produced (refusals
included) is parsed by Chromium (DOMParser) and audited; a large sample is loaded as a live page.
"""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from xml.etree import ElementTree
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

import pytest
import yaml

from tests.browser import DESKTOP, PASSWORD, browser, start_live_wiki  # noqa: F401
from tests.xss_payloads import Guard, armed_payloads, batches, one_line, title_groups

BATCH = 100
FOLDER = "XSS"
LIVE_SEARCHES = 30
CSP_BLOCKING = ("script-src", "object-src", "frame-src", "child-src", "base-uri", "form-action", "worker-src",
                "connect-src", "font-src", "style-src-elem", "manifest-src", "media-src", "default-src")
TALKER, WRITER = "talker", "writer"  # accounts that write talk and forms (their watchlists grow)
BUDGET = 150 * 1024  # bytes of a typical page view with its CSS and JS

REPORT: dict = {"tried": {}, "guards": [], "bytes": None, "started": time.monotonic()}


def body_name(k: int) -> str:
    return f"{FOLDER}/Body-{k:02d}"


def tag_page(i: int) -> str:
    return f"{FOLDER}/Tags/T{i:04d}"


def yaml_value(value) -> str:
    """A value as one line of YAML, quoted as needed (as the wiki's own front matter writer does)."""
    return yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10 ** 9).removesuffix(
        "\n").removesuffix("\n...").strip()


def front_matter(batch: list[str]) -> str:
    joined = one_line(" ".join(batch))
    return ("---\n" f"title: {yaml_value(joined)}\n" f"owner: {yaml_value(joined)}\n"
            f"summary: {yaml_value(joined)}\n" "status: at-risk\nreview_every: 14d\nreviewed: 2020-01-01\n"
            f"tags: {yaml_value(batch)}\n" f"note: {yaml_value(joined)}\n" "---\n\n")


# The account name rule of core/users.py, to send the names it refuses in parallel (a wrong guess
# costs only speed: a name accepted there would fail the seeding's check).
ACCOUNT_NAME = re.compile(r"^[^\s/\\<>@:\x00-\x1f\x7f]([^/\\<>@:\x00-\x1f\x7f]{0,78}[^\s/\\<>@:\x00-\x1f\x7f])?$")


def register(i: int, name: str) -> dict:
    return {"label": f"register #{i}", "url": "/-/register", "method": "POST",
            "form": {"name": name, "email": f"user{i}@example.org", "password": PASSWORD, "password2": PASSWORD}}


def path_of(name: str) -> str:
    return "/" + quote(name, safe="/")


def view_url(name: str, **query) -> str:
    return "/-/view?" + urlencode({"page": name, **query})


def action(act: str, name: str, **query) -> str:
    return f"/-/{act}?" + urlencode({"page": name, **query})


def phase(what: str, since: list[float] = [time.monotonic()]) -> None:
    """A line of timing (shown with -s): where the minutes go."""
    now = time.monotonic()
    print(f"  [{now - since[0]:6.1f} s] {what}")
    since[0] = now


def tried(place: str, count: int) -> None:
    REPORT["tried"][place] = REPORT["tried"].get(place, 0) + count


def new_guard(wiki) -> Guard:
    guard = Guard(wiki.base)
    REPORT["guards"].append(guard)
    return guard


def open_page(browser, wiki, guard: Guard, user: str | None = None, csp: bool = False, password: str = PASSWORD):
    """A page in a fresh context watched by `guard`; logged in as `user` unless None. Besides the
    guard's routing (which aborts whatever is not the wiki), the context's proxy is a closed port
    on 127.0.0.1, so nothing the routing might not see (a prefetch, a worker) leaves the machine."""
    context = browser.new_context(viewport=DESKTOP, bypass_csp=not csp,
                                  proxy={"server": "http://127.0.0.1:9", "bypass": "127.0.0.1"})
    guard.attach(context)
    page = context.new_page()
    page.set_default_timeout(30000)
    if user:
        wiki.login(page, user, password)
    return page


def assert_clean(guard: Guard, what: str) -> None:
    assert not guard.violations, f"{len(guard.violations)} injection(s) {what}:\n" + "\n".join(guard.violations[:40])


# -- the wiki and what the payloads wrote into it ----------------------------------------------

@dataclass
class Seeded:
    wiki: object
    payloads: list[str]
    bodies: list[dict] = field(default_factory=list)  # {name, batch, rev1, rev2, text1}
    comment_threads: dict[str, dict] = field(default_factory=dict)  # page -> {id, edited comment id}
    title_threads: list[tuple[str, str]] = field(default_factory=list)  # (page, thread id)
    names: list[tuple[str, str]] = field(default_factory=list)  # created pages: (payload name, url)
    tag_pages: list[str] = field(default_factory=list)  # URLs of the pages with a hand-written tag
    users: list[str] = field(default_factory=list)  # accounts named by payloads
    authors_thread: str = ""
    write_results: dict[str, list[dict]] = field(default_factory=dict)  # place -> audited answers
    guard: Guard | None = None


@pytest.fixture(scope="module")
def xss_wiki(tmp_path_factory):
    wiki = start_live_wiki(tmp_path_factory.mktemp("xss-wiki"), WIKI_REGISTRATION="open")
    for user in (TALKER, WRITER):
        wiki.tokens[user] = wiki.server.add_user(user, PASSWORD)
    try:
        yield wiki
    finally:
        wiki.server.stop()


def _api(wiki, method: str, path: str, body: dict | None = None, user: str = "editor") -> tuple[int, dict]:
    """The JSON API as `user` (talk is written as `talker`: who comments watches the thread, and a
    watchlist of hundreds of threads would slow every page the editor looks at)."""
    return wiki.server.request(method, "/-/api/v1/" + path, body, token=wiki.tokens[user])


def _ok(answer: tuple[int, dict], *statuses: int) -> dict:
    status, body = answer
    assert status in statuses, (status, str(body)[:500])
    return body


@pytest.fixture(scope="module")
def seeded(xss_wiki, browser):
    wiki = xss_wiki
    payloads = armed_payloads()
    s = Seeded(wiki, payloads)
    s.guard = guard = new_guard(wiki)
    pool = ThreadPoolExecutor(3)
    groups = batches(payloads, BATCH)

    # The admin watches the payload pages before anything is written, so the watchlist fills up.
    admin = open_page(browser, wiki, guard, "admin")
    watched = [body_name(k) for k in range(len(groups))] + ["Authors"]
    guard.bulk(admin, [{"label": f"watch {n}", "url": action("watch", n), "method": "POST",
                        "form": {"action": "watch"}} for n in watched])

    # Page bodies with front matter (tags, title, owner, summary); edit summaries. Two revisions:
    # blocks, then a list in the opposite order (the diffs then change every line).
    def write_body(k: int) -> dict:
        batch, name = groups[k], body_name(k)
        text1 = front_matter(batch) + "\n\n".join(batch) + "\n"
        text2 = (front_matter(batch[::-1]) + "# Payloads\n\n" + "\n".join("- " + p for p in reversed(batch))
                 + ("\n\n```dashboard\nfolder: " + FOLDER + "\n```\n" if k == 0 else "\n"))
        rev1 = _ok(_api(wiki, "PUT", "pages/" + quote(name), {"markdown": text1, "message": one_line(" ".join(batch))}),
                   201)["revision"]
        rev2 = _ok(_api(wiki, "PUT", "pages/" + quote(name), {"markdown": text2, "base": rev1,
                                                              "message": one_line(" ".join(reversed(batch)))}),
                   200)["revision"]
        return {"name": name, "batch": batch, "rev1": rev1, "rev2": rev2, "text1": text1}

    s.bodies = list(pool.map(write_body, range(len(groups))))
    phase("bodies")
    for place in ("page body", "tag", "title, owner, summary, other key (front matter)", "edit summary"):
        tried(place, len(payloads))

    # Talk: per body page one thread with a comment per payload (the first reply edited to hold the
    # whole batch); thread titles (and quotes and opening comments) of payloads joined.
    def comment_thread(k: int) -> tuple[str, dict]:
        batch, name = groups[k], body_name(k)
        thread = _ok(_api(wiki, "POST", f"pages/{quote(name)}/talk", {"title": f"Comments {k}", "body": batch[0]},
                          TALKER), 201)["id"]
        first = None
        for pair in batches(batch[1:], 2):  # two to a comment: a thousand commits cost half a minute
            c = _ok(_api(wiki, "POST", f"pages/{quote(name)}/talk/{thread}/comments", {"body": "\n\n".join(pair)},
                         TALKER), 201)
            first = first or c["id"]
        if first:
            _ok(_api(wiki, "PATCH", f"pages/{quote(name)}/talk/{thread}/comments/{first}",
                     {"body": "\n\n".join(batch)}, TALKER), 200)
        return name, {"id": thread, "edited": first}

    s.comment_threads = dict(pool.map(comment_thread, range(len(groups))))
    phase("comment threads")
    tried("comment body", len(payloads))
    tried("comment body, edited", len(payloads))

    titles = title_groups(payloads)

    def title_thread(i: int) -> tuple[str, str]:
        name = body_name(i % len(groups))
        body = {"title": titles[i], "body": titles[i], "quote": titles[i]}
        return name, _ok(_api(wiki, "POST", f"pages/{quote(name)}/talk", body, TALKER), 201)["id"]

    s.title_threads = list(pool.map(title_thread, range(len(titles))))
    phase("title threads")
    for place in ("thread title", "thread quote", "thread opening comment"):
        tried(place, len(payloads))
    editor = open_page(browser, wiki, guard, "editor")
    long_titles = [p for p in payloads if len(one_line(p)) > 200]  # refused: the form comes back
    s.write_results["thread title refused"] = guard.bulk(editor, [
        {"label": f"long title {i}", "url": action("talk", body_name(0)), "method": "POST",
         "form": {"title": p, "body": p}} for i, p in enumerate(long_titles)])

    # Tags as written by hand, `tags: [PAYLOAD]`, a page each (the wiki refuses front matter that is
    # not valid YAML); a sample through the editor form too, whose refusal shows the text again.
    def tag_page_put(i: int) -> str | None:
        status, answer = _api(wiki, "PUT", "pages/" + quote(tag_page(i)),
                              {"markdown": f"---\ntags: [{payloads[i]}]\n---\n\nTagged.\n"})
        assert status in (201, 400), (status, answer)
        return path_of(tag_page(i)) if status == 201 else None

    s.tag_pages = [u for u in pool.map(tag_page_put, range(len(payloads))) if u]
    phase("tag pages")
    writer = open_page(browser, wiki, guard, WRITER)
    s.write_results["tag, hand-written, in the form"] = guard.bulk(writer, [
        {"label": f"tag form #{i}", "url": action("edit", f"{FOLDER}/Form-tags/T{i:04d}"), "method": "POST",
         "form": {"text": f"---\ntags: [{p}]\n---\n\nTagged.\n", "message": ""}}
        for i, p in enumerate(payloads) if i % 10 == 0])
    phase("tag forms")
    tried("tag, hand-written `tags: [PAYLOAD]`", len(payloads))

    # Page names, through the "new page" form; then each name's URL (refused names included).
    results = guard.bulk(writer, [{"label": f"new page named #{i}", "url": "/-/new", "method": "POST",
                                   "form": {"name": p, "text": "A page named by a payload.\n\n[[Home]]",
                                            "message": "named"}} for i, p in enumerate(payloads)], parallel=2)
    s.names = [(p, r["url"]) for p, r in zip(payloads, results) if r["status"] == 200 and "/-/new" not in r["url"]]
    s.write_results["page name"] = results
    s.write_results["page name in URL"] = guard.bulk(writer, [
        {"label": f"view of name #{i}", "url": path_of(p.strip().strip("/"))} for i, p in enumerate(payloads)
        if i % 4 == 0], parallel=2)
    tried("page name", len(payloads))
    phase("names")

    # Account names: register every payload; each account that is made edits a page and comments.
    _ok(_api(wiki, "PUT", "pages/Authors", {"markdown": "# Authors\n", "message": "Start"}), 201)
    s.authors_thread = _ok(_api(wiki, "POST", "pages/Authors/talk", {"title": "Who is who", "body": "Say hello."}),
                           201)["id"]
    # Registering logs the new account in: it edits a page and comments at once (refused: skipped).
    # Names the account rules refuse anyway are sent from another session, three at a time.
    allowed = [i for i, p in enumerate(payloads) if ACCOUNT_NAME.match(p.strip())]
    others = [i for i in range(len(payloads)) if i not in set(allowed)]
    registrar, refuser = open_page(browser, wiki, guard), open_page(browser, wiki, guard)
    jobs = []
    for i in allowed:
        jobs += [register(i, payloads[i]),
                 {"label": f"edit by user #{i}", "url": "/-/edit/Authors", "method": "POST", "if_previous": "/-/register",
                  "base_from": "/-/edit/Authors",
                  "form": {"text": f"# Authors\n\nLast edited by user {i}.\n", "message": f"user {i}"}},
                 {"label": f"comment by user #{i}", "url": f"/-/talk/Authors?thread={s.authors_thread}",
                  "method": "POST", "if_previous": "/-/register", "form": {"body": f"Hello from user {i}."}}]
    done = guard.bulk(registrar, jobs, parallel=1)
    refused = guard.bulk(refuser, [register(i, payloads[i]) for i in others], parallel=3)
    assert not any(r["status"] == 200 and "/-/register" not in r["url"] for r in refused), "a name thought refused"
    registered = done[0::3]
    s.users = [payloads[i].strip() for i, r in zip(allowed, registered)
               if r["status"] == 200 and "/-/register" not in r["url"]]
    for r in done[1::3] + done[2::3]:
        assert r["status"] in (-1, 200), (r["label"], r["status"], r["url"])
    assert sum(r["status"] == 200 for r in done[2::3]) == len(s.users)
    results = done + refused
    s.write_results["account name"] = results
    tried("account name", len(payloads))
    phase("accounts")
    pool.shutdown()
    for page in (admin, editor, writer, registrar, refuser):
        page.context.close()
    return s


# -- the Content-Security-Policy, own resources, bytes of a page -----------------------------------

def _csp(header: str) -> dict[str, list[str]]:
    policy = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            policy.setdefault(words[0].lower(), [w.lower() for w in words[1:]])
    return policy


def test_csp_allows_only_own_scripts(xss_wiki):
    wiki = xss_wiki
    wiki.put_page("Guide", "# Guide\n\nText.\n")
    pages = ["/Guide", "/-/edit/Guide", "/-/search?q=guide", "/-/talk/Guide", "/-/history/Guide", "/-/recent",
             "/-/login", "/-/register", "/-/pages", "/Missing-page", "/-/recent.atom", "/-/raw/Guide"]
    for path in pages:
        try:
            with urllib.request.urlopen(wiki.url(path), timeout=30) as r:
                headers = r.headers
        except urllib.error.HTTPError as e:  # an error page needs the policy as much
            headers = e.headers
        header, content_type = headers.get("Content-Security-Policy"), headers.get_content_type()
        assert header, f"{path} has no Content-Security-Policy"
        policy = _csp(header)
        scripts = policy.get("script-src", policy.get("default-src"))
        assert scripts == ["'self'"], (path, header)
        for directive in ("script-src-elem", "script-src-attr"):
            assert "'unsafe-inline'" not in policy.get(directive, []), (path, header)
        assert not any("unsafe" in w for w in scripts), (path, header)
        assert policy.get("object-src") == ["'none'"], (path, header)
        assert policy.get("base-uri") == ["'none'"], (path, header)
        if content_type == "text/html":
            assert "'none'" in policy.get("frame-ancestors", []), (path, header)


MEDIUM_PAGE = """# Release checklist

The steps we follow for every release of the service, with the commands to run and who signs off.
See [[Guide]] for the general rules and [the upstream notes](https://example.org/notes) for details.

## Before the freeze

1. Merge the open pull requests that are ready; move the others to the next milestone.
2. Run the full test suite on the release branch:

   ```bash
   make test && make lint
   ./scripts/check-migrations --strict
   ```

3. Update the changelog: one line per user-visible change, newest first.

| step | owner | when |
|---|---|---|
| freeze | release manager | Monday |
| build | CI | Tuesday |
| sign-off | product | Wednesday |
| announce | everyone | Thursday |

## During the release

- [x] tag the commit: `git tag -s v1.2.3`
- [x] build the packages
- [ ] upload to the mirror
- [ ] update the documentation site

> If anything fails, stop, write it down here, and ask in the channel before retrying.

## After the release

Watch the error rates for a day. A rollback is `deploy --version previous`; it takes about five
minutes. Note what went wrong in the retrospective page, and fix the checklist itself when a step
was unclear.[^1]

[^1]: The checklist is a living document; edit it.
""" + "\n".join(f"- Item {i}: a line of ordinary text so the page has some body to it." for i in range(40)) + "\n"


def test_main_pages_load_only_the_wikis_own_resources(xss_wiki, browser):
    """A page view, the editor, search and talk: every request goes to the wiki itself."""
    wiki = xss_wiki
    wiki.put_page("Release-checklist", MEDIUM_PAGE)
    wiki.put_page("Guide", "# Guide\n\nText.\n")
    guard = new_guard(wiki)
    page = open_page(browser, wiki, guard, "editor", csp=True)
    seen = []
    page.on("request", lambda r: seen.append((r.resource_type, r.url)))
    csp_events = []
    for url in ["/Release-checklist", "/-/edit/Release-checklist", "/-/search?q=release",
                "/-/talk/Release-checklist", "/-/history/Release-checklist"]:
        guard.visit(page, url, url, settle_ms=400)
        csp_events += page.evaluate("() => window.__csp ? Array.from(window.__csp) : []")
    kinds = {}
    for kind, url in seen:
        assert url.startswith(wiki.base + "/"), f"{kind} from another host: {url}"
        kinds.setdefault(kind, set()).add(url.split("?")[0][len(wiki.base):])
    assert kinds.get("stylesheet") and kinds.get("script"), kinds
    assert not guard.foreign, guard.foreign
    assert not csp_events, csp_events
    assert_clean(guard, "on the main pages")
    page.context.close()


def test_a_typical_page_view_stays_small(xss_wiki, browser):
    """Bytes of a page view of a medium page with its CSS and JS (a fresh visitor, nothing cached)."""
    wiki = xss_wiki
    wiki.put_page("Release-checklist", MEDIUM_PAGE)
    guard = new_guard(wiki)
    page = open_page(browser, wiki, guard)
    responses = []
    page.on("response", lambda r: responses.append(r))
    guard.visit(page, "/Release-checklist", "typical page")
    page.wait_for_load_state("networkidle")
    sizes = {}
    for r in responses:
        try:
            sizes[r.url[len(wiki.base):]] = len(r.body())
        except Exception:
            pass  # a redirect has no body
    total = sum(sizes.values())
    REPORT["bytes"] = total
    print(f"typical page view: {total} bytes: " + ", ".join(f"{u} {n}" for u, n in sorted(sizes.items())))
    assert any(u.endswith(".css") for u in sizes) and any(u.endswith(".js") for u in sizes), sizes
    assert total < BUDGET, sizes
    assert_clean(guard, "on a typical page")
    page.context.close()


def test_feeds_stay_well_formed_with_control_characters(client):
    """Regression: a payload holding a form feed made the Atom feeds of its page and of recent changes
    XML that no reader accepts (PCDATA invalid Char value 12); they now carry U+FFFD instead."""
    text = "<svg\x0conload=alert(1)> \x01 bell\x07 esc\x1b\n"
    answer = client.post("/-/edit/Feed-test", data={"text": text, "message": "form\x0cfeed"})
    assert answer.status_code == 302, answer.get_data(as_text=True)[:500]
    for url in ("/-/history/Feed-test.atom", "/-/recent.atom"):
        body = client.get(url).get_data(as_text=True)
        ElementTree.fromstring(body.encode("utf-8"))  # raises on a character XML forbids
        assert "\ufffd" in body and "Feed-test" in body


def test_search_with_plus_inside_parentheses_is_not_a_server_error(client):
    """Regression: whoosh's PlusMinusPlugin raised NotImplementedError('Plus') for a + inside parentheses
    (found by the JSFuck payloads); such a query now searches for its words."""
    client.post("/-/edit/Plus", data={"text": "a b\n", "message": ""})
    for url in ("/-/search", "/-/api/v1/search"):
        assert client.get(url, query_string={"q": "a (+b)"}).status_code < 500


CANARY = """<!doctype html><html><head><title>canary</title>
<link rel="stylesheet" href="http://evil.example/x.css"></head><body>
<img src="/-/no-such-image" onerror="__hit(0, 'canary')">
<script>alert(1)</script>
<script src="http://evil.example/x.js"></script>
<a href=" java&#x09;script:alert(1)">link</a>
<iframe srcdoc="&lt;b&gt;x&lt;/b&gt;"></iframe>
<img src="https://images.example/cat.png">
</body></html>"""


def test_the_harness_catches_an_injection(xss_wiki, browser):
    """The guard on a page made to be injected (served by the test, not the wiki): every kind of
    finding is reported, and an image from another host is allowed."""
    wiki = xss_wiki
    guard = Guard(wiki.base)  # not one of the report's guards: these violations are wanted
    page = open_page(browser, wiki, guard)
    page.context.route(wiki.url("/-/canary"), lambda route: route.fulfill(body=CANARY, content_type="text/html"))
    guard.visit(page, "/-/canary", "canary")
    found = "\n".join(guard.violations)
    for expected in ("ran {'kind': '__hit'", "ran {'kind': 'alert'", "script request to another host",
                     "stylesheet request to another host", "handler onerror", "script URL in href",
                     "element <iframe>", "attribute srcdoc", ": script: <script>alert(1)</script>"):
        assert expected in found, (expected, found)
    assert ("image", "https://images.example/cat.png") in guard.foreign
    assert "images.example" not in found
    guard.violations.clear()
    guard.bulk(page, [{"label": "canary", "url": "/-/canary"}])
    assert any("handler onerror" in v for v in guard.violations), guard.violations
    page.context.close()


# -- the places, loaded -------------------------------------------------------------------------

def test_writing_answers_are_clean(seeded):
    """Every answer to the writes (forms coming back with an error included) parsed by Chromium."""
    assert_clean(seeded.guard, "in the answers to the writes")
    for place, results in seeded.write_results.items():
        assert results, place
    assert len(seeded.users) > 20, seeded.users  # names the account rules allow
    assert len(seeded.names) > 10, seeded.names  # names the page rules allow
    assert_clean(seeded.guard, "in the answers to the writes")


def test_page_bodies_history_diffs_and_summaries(seeded, browser):
    s, wiki = seeded, seeded.wiki
    guard = new_guard(wiki)
    page = open_page(browser, wiki, guard, "editor")
    jobs = []
    for k, b in enumerate(s.bodies):
        name, rev1, rev2 = b["name"], b["rev1"], b["rev2"]
        views = {"view": path_of(name), "old revision": view_url(name, rev=rev1), "history": action("history", name),
                 "blame": action("blame", name), "old blame": action("blame", name, rev=rev1),
                 "inline diff": action("diff", name, **{"from": rev1, "to": rev2, "view": "inline"}),
                 "side diff": action("diff", name, **{"from": rev1, "to": rev2, "view": "side"}),
                 "rendered diff": action("diff", name, **{"from": rev1, "to": rev2, "view": "rendered"}),
                 "whole diff": action("diff", name, **{"from": rev1, "context": "all"}),
                 "commit": f"/-/commit/{rev2}", "raw": action("raw", name), "feed": f"/-/history/{quote(name)}.atom",
                 "revert": action("revert", name, to=rev1), "history with talk": action("history", name, talk="1"),
                 "backlinks": action("backlinks", name)}
        # Every view of every page is parsed; the page itself and its rendered diff are shown live
        # for each page, every view for one page in four.
        jobs += [{"label": f"{what} of {name}", "url": url} for what, url in views.items()]
        for what, url in views.items():
            if k % 4 == 0 or what in ("view", "rendered diff"):
                guard.visit(page, url, f"{what} of {name}")
        # the editor: its live preview puts the rendered page into the document with innerHTML
        guard.visit(page, action("edit", name), f"edit {name}")
        page.wait_for_function("() => !document.querySelector('#preview p.muted')", timeout=15000)
        page.wait_for_timeout(200)
        guard.check(page, f"edit preview {name}")
        # the conflict screen: a stale base, overlapping lines, a summary of payloads
        first = b["batch"][0]
        page.evaluate("""([base, text, message]) => {
            document.querySelector("input[name=base]").value = base;
            document.querySelector("#text").value = text;
            document.querySelector("#message").value = message; }""",
                      [rev1, b["text1"].replace(first, first + " (mine)", 1), " ".join(b["batch"])])
        with page.expect_navigation():
            page.click("form.edit-form button[type=submit]")
        assert page.locator("h1.page-title").inner_text() == "Edit conflict"
        guard.loads += 1
        guard.check(page, f"conflict {name}")
    tried("edit summary, conflict screen", len(s.payloads))
    guard.bulk(page, jobs, parallel=2)
    # Each payload alone, rendered by the preview and put into the live page as the editor does.
    guard.visit(page, action("edit", s.bodies[0]["name"]), "edit for previews")
    results = guard.bulk(page, [{"label": f"preview #{i}", "url": "/-/preview", "method": "POST", "keep": True,
                                 "form": {"text": p, "name": f"{FOLDER}/Preview"}}
                                for i, p in enumerate(s.payloads)], parallel=2)
    guard.fragments(page, [{"label": r["label"], "html": r["text"]} for r in results])
    tried("page body, alone (preview)", len(s.payloads))
    # The JSON API's rendered HTML.
    items = []
    for b in s.bodies:
        for rev in (b["rev1"], b["rev2"]):
            status, answer = _api(wiki, "GET", f"pages/{quote(b['name'])}?rev={rev}")
            assert status == 200, answer
            items.append({"label": f"API html {b['name']}@{rev[:8]}", "html": answer["html"]})
    guard.fragments(page, items)
    assert_clean(guard, "in page bodies, history, diffs and summaries")
    page.context.close()


def test_page_views_with_the_policy_on(seeded, browser):
    """The same pages with the real CSP: it blocks nothing, because nothing injected is there to block."""
    s, wiki = seeded, seeded.wiki
    guard = new_guard(wiki)
    page = open_page(browser, wiki, guard, "editor", csp=True)
    for b in s.bodies:
        guard.visit(page, path_of(b["name"]), f"CSP on {b['name']}")
        for event in page.evaluate("() => window.__csp ? Array.from(window.__csp) : []"):
            if event["directive"].startswith(CSP_BLOCKING):
                guard.violations.append(f"{b['name']}: the policy blocked {event}")
    assert_clean(guard, "with the policy on")
    page.context.close()


def test_front_matter_tags_and_status_views(seeded, browser):
    s, wiki = seeded, seeded.wiki
    guard = new_guard(wiki)
    page = open_page(browser, wiki, guard, "editor")
    assert s.tag_pages, "no hand-written tag was accepted"
    for url in ("/-/tags", "/-/status", f"/-/status/{FOLDER}", "/-/status?sort=owner", "/-/stale"):
        guard.visit(page, url, url)
    guard.visit(page, "/-/tags", "tags")
    links = page.eval_on_selector_all("main a[href^='/-/tags/']", "(links) => links.map((a) => a.getAttribute('href'))")
    assert len(links) > BATCH, len(links)
    for url in links[:: max(1, len(links) // 20)]:
        guard.visit(page, url, f"tag {url}")
    for url in s.tag_pages[:: max(1, len(s.tag_pages) // 20)]:
        guard.visit(page, url, f"hand-tagged {url}")
    guard.bulk(page, [{"label": f"tag {u}", "url": u} for u in links[::4]]
               + [{"label": f"hand-tagged {u}", "url": u} for u in s.tag_pages[::4]], parallel=2)
    assert_clean(guard, "in front matter views")
    page.context.close()


def test_talk_titles_quotes_and_comments(seeded, browser):
    s, wiki = seeded, seeded.wiki
    guard = new_guard(wiki)
    page = open_page(browser, wiki, guard, "editor")
    jobs = []
    for k, (name, t) in enumerate(s.comment_threads.items()):
        views = {"talk list": action("talk", name), "comments": action("talk", name, thread=t["id"]),
                 "comment history": action("talk-history", name, thread=t["id"], comment=t["edited"]),
                 "comment editor": action("talk", name, thread=t["id"], edit=t["edited"])}
        jobs += [{"label": f"{what} of {name}", "url": url} for what, url in views.items()]
        for what, url in views.items():
            if k % 4 == 0 or what in ("talk list", "comments"):
                guard.visit(page, url, f"{what} of {name}")
    for name, thread in s.title_threads[:: max(1, len(s.title_threads) // 15)]:
        guard.visit(page, action("talk", name, thread=thread), f"thread {thread}")
    guard.bulk(page, jobs + [{"label": f"thread {t}", "url": action("talk", n, thread=t)} for n, t in s.title_threads],
               parallel=2)
    # The new-thread form filled from a quote (the "Discuss" button's link), for a sample.
    guard.bulk(page, [{"label": f"quote form #{i}", "url": action("talk", s.bodies[0]["name"], quote=p)}
                      for i, p in enumerate(s.payloads[::5])])
    # A refused title shown live: the form comes back with the text.
    long_title = next(p for p in s.payloads if len(one_line(p)) > 200)
    guard.visit(page, action("talk", s.bodies[0]["name"]), "talk form")
    page.fill("#talk-title", "x")
    page.evaluate("(t) => { document.querySelector('#talk-title').removeAttribute('maxlength');"
                  " document.querySelector('#talk-title').value = t; }", long_title)
    page.fill("#talk-body", long_title)
    with page.expect_navigation():
        page.click("form.talk-form button[type=submit]")
    guard.loads += 1
    guard.check(page, "refused thread title")
    # The JSON API's comment HTML.
    items = []
    for name in s.comment_threads:
        status, answer = _api(wiki, "GET", f"pages/{quote(name)}/talk")
        assert status == 200, answer

        def walk(comments):
            for c in comments:
                items.append({"label": f"API comment {name} {c['id']}", "html": c["html"]})
                walk(c["replies"])
        for t in answer["threads"]:
            walk(t["comments"])
    guard.fragments(page, items)
    assert_clean(guard, "in talk")
    page.context.close()


def test_page_names(seeded, browser):
    s, wiki = seeded, seeded.wiki
    guard = new_guard(wiki)
    page = open_page(browser, wiki, guard, "editor")
    jobs = []
    for k, (payload, url) in enumerate(s.names):
        name = payload.strip().strip("/")
        guard.visit(page, url, f"page named {name!r}")
        for act in ("history", "talk", "edit", "rename", "delete", "blame", "backlinks"):
            jobs.append({"label": f"{act} of {name!r}", "url": action(act, name)})
            if k % 4 == 0:
                guard.visit(page, action(act, name), f"{act} of {name!r}")
    guard.bulk(page, jobs, parallel=2)
    # Refused names, shown live: the new-page form and the page URL.
    refused = [p for p in s.payloads if p not in {n for n, _ in s.names}]
    for payload in refused[:: max(1, len(refused) // 10)]:
        guard.visit(page, "/-/new", "new page form")
        page.fill("#name", payload)
        with page.expect_navigation():
            page.click("main form button[type=submit]")
        guard.loads += 1
        guard.check(page, f"refused name {payload!r}")
        guard.visit(page, path_of(payload.strip().strip("/")), f"URL of refused name {payload!r}")
    for url in ("/-/pages", f"/-/pages/{FOLDER}", "/-/wanted", "/-/orphans"):
        guard.visit(page, url, url)
    # Reflected into the page view and the forms.
    guard.bulk(page, [{"label": f"redirected_from #{i}", "url": view_url("Home", redirected_from=p)}
                      for i, p in enumerate(s.payloads[::4])]
               + [{"label": f"new ?name #{i}", "url": "/-/new?" + urlencode({"name": p})}
                  for i, p in enumerate(s.payloads[1::4])]
               + [{"label": f"edit ?text #{i}", "url": action("edit", "Fresh/Page", text=p)}
                  for i, p in enumerate(s.payloads[2::4])]
               + [{"label": f"login ?next #{i}", "url": "/-/login?" + urlencode({"next": p})}
                  for i, p in enumerate(s.payloads[3::4])])
    assert_clean(guard, "in page names")
    page.context.close()


def test_account_names(seeded, browser):
    s, wiki = seeded, seeded.wiki
    guard = new_guard(wiki)
    admin = open_page(browser, wiki, guard, "admin")
    for url in ("/Authors", "/-/history/Authors", "/-/blame/Authors", "/-/diff/Authors", "/-/talk/Authors",
                action("talk", "Authors", thread=s.authors_thread), "/-/admin/users", "/-/recent?limit=500",
                "/-/recent.atom"):
        guard.visit(admin, url, f"names on {url}")
    guard.bulk(admin, [{"label": f"profile of {u!r}", "url": "/-/user/" + quote(u, safe="")} for u in s.users]
               + [{"label": f"recent by {u!r}", "url": "/-/recent?" + urlencode({"author": u})} for u in s.users]
               + [{"label": f"recent feed by {u!r}", "url": "/-/recent.atom?" + urlencode({"author": u})}
                  for u in s.users])
    for u in s.users[:: max(1, len(s.users) // 10)]:
        guard.visit(admin, "/-/user/" + quote(u, safe=""), f"profile of {u!r}")
    admin.context.close()
    # Logged in as accounts named by payloads: the header shows the name on every page.
    for u in s.users[:: max(1, len(s.users) // 5)]:
        page = open_page(browser, wiki, guard, u)
        for url in ("/Home", "/-/account", "/-/watchlist", action("talk", "Authors", thread=s.authors_thread)):
            guard.visit(page, url, f"{url} as {u!r}")
        page.context.close()
    # Refused names, shown live: the registration form comes back with the name.
    page = open_page(browser, wiki, guard)
    refused = [p for p in s.payloads if p.strip() not in s.users]
    for i, payload in enumerate(refused[:: max(1, len(refused) // 10)]):
        guard.visit(page, "/-/register", "register form")
        page.fill("#name", payload)
        page.fill("#email", f"again{i}@example.org")
        page.fill("#password", PASSWORD)
        page.fill("#password2", PASSWORD)
        with page.expect_navigation():
            page.click("main form button[type=submit]")
        guard.loads += 1
        guard.check(page, f"refused account name {payload!r}")
    page.context.close()
    assert_clean(guard, "in account names")


def test_search(seeded, browser):
    s, wiki = seeded, seeded.wiki
    guard = new_guard(wiki)
    page = open_page(browser, wiki, guard, "editor")
    snippets = []

    def api_search(i: int) -> None:
        status, answer = wiki.server.request("GET", "/-/api/v1/search?" + urlencode({"q": s.payloads[i]}))
        assert status in (200, 400, 414), (s.payloads[i], status, answer)  # 414: a URL longer than gunicorn takes
        for hit in answer.get("results", []):
            snippets.append({"label": f"API snippet for query #{i} ({hit['path']})", "html": hit["snippet_html"]})

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(api_search, range(len(s.payloads))))
    tried("search query (API)", len(s.payloads))
    assert snippets, "no query found a payload page"
    guard.visit(page, "/Home", "home for snippets")
    guard.fragments(page, snippets)
    # The search page (the query is shown back in the form, the title and the links) for a third of
    # the queries, parsed; thirty of them shown live below.
    guard.bulk(page, [{"label": f"search #{i}", "url": "/-/search?" + urlencode({"q": p})}
                      for i, p in enumerate(s.payloads) if i % 3 == 0]
               + [{"label": f"history search #{i}", "url": "/-/search?" + urlencode({"q": p, "history": "1"})}
                  for i, p in enumerate(s.payloads) if i % 12 == 1], parallel=2)
    tried("search query, search page", len(s.payloads) // 3)
    step = max(1, len(s.payloads) // LIVE_SEARCHES)
    for i in range(0, len(s.payloads), step):
        guard.visit(page, "/-/search?" + urlencode({"q": s.payloads[i]}), f"search #{i}")
    for q in ("XSS", "alert", "script", "img src", "tag:XSS", "javascript"):
        guard.visit(page, "/-/search?" + urlencode({"q": q}), f"search {q!r}")
        guard.visit(page, "/-/search?" + urlencode({"q": q, "history": "1"}), f"history search {q!r}")
    assert_clean(guard, "in search")
    page.context.close()


def test_recent_changes_feeds_and_watchlists(seeded, browser):
    s, wiki = seeded, seeded.wiki
    guard = new_guard(wiki)
    page = open_page(browser, wiki, guard, "admin")
    url, pages = "/-/recent?limit=500", 0
    while url and pages < 10:
        guard.visit(page, url, f"recent changes {pages}")
        pages += 1
        older = page.locator("a.button", has_text="Older changes")
        url = older.get_attribute("href") if older.count() else None
    for url in ("/-/recent.atom", f"/-/recent.atom?folder={FOLDER}", f"/-/recent?folder={FOLDER}",
                "/-/watchlist", "/-/api/v1/pages/" + quote(s.bodies[0]["name"]), "/-/api/v1/recent"):
        guard.visit(page, url, url)
    answer = guard.bulk(page, [{"label": "feed link", "url": "/-/watchlist/feed", "method": "POST", "keep": True,
                                "form": {}}])[0]
    token = re.search(r"watchlist\.atom\?token=([^\"'<\s&]+)", answer["text"])
    assert token, answer["text"][:2000]
    feed = "/-/watchlist.atom?token=" + token.group(1)
    guard.visit(page, feed, "watchlist feed")
    watchlist = page.context.request.get(wiki.url("/-/watchlist")).text()
    assert s.bodies[0]["name"] in watchlist and "Authors" in watchlist
    # The feeds parsed as XML too (a browser that renders Atom would build this document).
    guard.bulk(page, [{"label": "watchlist feed (XML)", "url": feed}, {"label": "recent feed", "url": "/-/recent.atom"},
                      {"label": "folder feed", "url": f"/-/recent.atom?folder={FOLDER}"}]
               + [{"label": f"feed {b['name']}", "url": f"/-/history/{quote(b['name'])}.atom"} for b in s.bodies])
    page.context.close()
    editor = open_page(browser, wiki, guard, "editor")
    guard.visit(editor, "/-/watchlist", "editor's watchlist")
    editor.context.close()
    assert_clean(guard, "in recent changes, feeds and watchlists")


@pytest.fixture(scope="module", autouse=True)
def summary(request):
    yield
    guards = REPORT["guards"]
    if not guards:
        return
    places = REPORT["tried"]
    payloads = max(places.values()) if places else 0
    line = (f"XSS: {payloads} payloads x {len(places)} places = {sum(places.values())} tried; "
            f"pages loaded: {sum(g.loads for g in guards)} live in Chromium + {sum(g.parsed for g in guards)} "
            f"answers parsed by it; violations: {sum(len(g.violations) for g in guards)}; "
            f"foreign requests aborted: {sum(len(g.foreign) for g in guards)} (images allowed); "
            f"typical page view: {REPORT['bytes']} bytes; {time.monotonic() - REPORT['started']:.0f} s")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        print(line)
        return
    with capture.global_and_fixture_disabled():  # shown in every run, not only with -s
        reporter.write_line("")
        reporter.write_line(line)
        reporter.write_line("  places: " + ", ".join(f"{k} {v}" for k, v in places.items()))
