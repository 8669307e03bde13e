"""Status pages: front matter, templates, tags, dashboards on a scripted history, staleness."""

import json
import re
from datetime import date, datetime, timedelta, timezone

import pytest

from wiki.core.frontmatter import PageMeta, parse, parse_period, with_meta
from wiki.core.gitrepo import Person
from wiki.core.pages import PageStore
from wiki.core.pagetemplates import instantiate
from wiki.core.status import StatusBoard, WEEKS
from wiki.core.talk import TalkStore

from .conftest import ALICE

ANN = Person("Ann", "ann@example.org")


# -- front matter ------------------------------------------------------------------------

def test_front_matter_round_trip():
    text = ("---\ntitle: Alpha status\ntags: [Status, alpha]\nowner: ann\nstatus: At-Risk\nreview_every: 14d\n"
            "reviewed: 2026-11-20\nsummary: 'Vendor late: a week.'\ncustom: {a: 1}\n---\n# Alpha\n\nBody.\n")
    meta, body = parse(text)
    assert (meta.title, meta.tags, meta.owner, meta.status) == ("Alpha status", ("status", "alpha"), "ann", "at-risk")
    assert meta.review_every == timedelta(days=14) and meta.reviewed == date(2026, 11, 20)
    assert meta.summary == "Vendor late: a week." and meta.extra == {"custom": {"a": 1}} and meta.problems == ()
    assert body == "# Alpha\n\nBody.\n"
    again = with_meta(text, {"status": "on-track", "reviewed": date(2026, 11, 29), "owner": None})
    meta2, body2 = parse(again)
    assert (meta2.status, meta2.reviewed, meta2.owner) == ("on-track", date(2026, 11, 29), None)
    assert meta2.tags == meta.tags and meta2.extra == meta.extra and body2 == body  # the rest untouched
    assert with_meta("# Plain\n", {"status": "done"}) == "---\nstatus: done\n---\n# Plain\n"
    assert with_meta("---\nstatus: done\n---\n# Plain\n", {"status": None}) == "# Plain\n"


@pytest.mark.parametrize("block, problem", [
    ("title: [unclosed", "not valid YAML (line "),
    ("- just\n- a list", "`key: value` lines"),
    ("status: sideways", "`status` must be one of"),
    ("review_every: soon", "`review_every` must be like 14d"),
    ("reviewed: someday", "`reviewed` must be a date"),
    ("tags: 3", "`tags` must be a list"),
])
def test_invalid_front_matter_is_explained_and_the_body_kept(block, problem):
    meta, body = parse(f"---\n{block}\n---\n# Still here\n")
    assert any(problem in p for p in meta.problems), meta.problems
    assert body == "# Still here\n"


def test_periods():
    assert parse_period("2w") == timedelta(days=14) and parse_period("3 months") == timedelta(days=90)
    assert parse_period("1y") == timedelta(days=365) and parse_period("0d") is None and parse_period("x") is None


def test_overdue_with_a_fixed_clock():
    meta, _ = parse("---\nreview_every: 7d\n---\nx\n")
    edited = datetime(2026, 11, 1, 12, tzinfo=timezone.utc)
    assert meta.next_review(edited) == date(2026, 11, 8)
    assert not meta.overdue(edited, today=date(2026, 11, 8)) and meta.overdue(edited, today=date(2026, 11, 9))
    confirmed, _ = parse("---\nreview_every: 7d\nreviewed: 2026-11-05\n---\nx\n")
    assert confirmed.next_review(edited) == date(2026, 11, 12)  # the later of edit and confirmation
    assert PageMeta().next_review(edited) is None and not PageMeta().overdue(edited)


# -- the web: strip, editor form, invalid front matter -----------------------------------

def test_page_view_shows_the_metadata_strip_and_hides_the_yaml(client):
    client.put("/-/api/v1/pages/Projects/Alpha", json={"markdown": (
        "---\ntitle: Alpha status\ntags: [status, alpha]\nowner: ann\nstatus: at-risk\nreview_every: 14d\n"
        "summary: Vendor late.\n---\n# Alpha\n\nBody text.\n")})
    page = client.get("/Projects/Alpha").get_data(as_text=True)
    assert 'class="status-badge status-at-risk"' in page and "ann" in page and "Vendor late." in page
    assert 'href="/-/tags/alpha"' in page and "Next review" in page
    assert "review_every" not in page  # the YAML itself is not shown as text
    assert "<title>Alpha status" in page
    api = client.get("/-/api/v1/pages/Projects/Alpha").get_json()
    assert api["meta"]["status"] == "at-risk" and api["meta"]["tags"] == ["status", "alpha"]
    assert api["title"] == "Alpha status"


def test_invalid_front_matter_never_breaks_the_view_and_is_refused_in_the_editor(app, client):
    wiki = app.extensions["tacit"]
    wiki.pages.save("Broken", "---\nstatus: [oops\n---\n# Broken\n\nStill readable.\n", ALICE)
    page = client.get("/Broken")
    assert page.status_code == 200 and b"Still readable." in page.data and b"not valid YAML" in page.data
    base = wiki.pages.head()
    r = client.post("/-/edit/Broken", data={"text": "---\nstatus: sideways\n---\n# Broken\n", "base": base})
    assert r.status_code == 400 and b"must be one of" in r.data and b"sideways" in r.data  # text kept
    assert wiki.pages.head() == base
    edit = client.get("/-/edit/Broken").get_data(as_text=True)
    assert "Status and metadata" in edit
    api = client.put("/-/api/v1/pages/Broken", json={"markdown": "---\nreview_every: soon\n---\nx\n", "base": base})
    assert api.status_code == 400 and "review_every" in api.get_json()["detail"]


def test_the_metadata_form_writes_only_what_changed(app, client):
    wiki = app.extensions["tacit"]
    wiki.pages.save("Beta", "---\nstatus: on-track\nowner: ann\n---\n# Beta\n", ALICE)
    initial = '{"status": "on-track", "owner": "ann", "review_every": "", "tags": "", "summary": ""}'
    base = wiki.pages.head()
    # the text's own front matter was edited (owner bob); the form only changed the status
    r = client.post("/-/edit/Beta", data={
        "text": "---\nstatus: on-track\nowner: bob\n---\n# Beta\n", "base": base, "meta_initial": initial,
        "meta_status": "blocked", "meta_owner": "ann", "meta_review_every": "", "meta_tags": "q4, infra",
        "meta_summary": ""})
    assert r.status_code == 302
    meta, body = parse(wiki.pages.get("Beta").markdown)
    assert (meta.status, meta.owner, meta.tags) == ("blocked", "bob", ("q4", "infra")) and body == "# Beta\n"


# -- templates ---------------------------------------------------------------------------

def test_wiki_init_ships_templates_and_they_are_filled_in(app, client):
    listing = app.extensions["tacit"].pages.listing()
    assert {"Templates/Weekly status", "Templates/Decision record"} <= set(listing)
    form = client.get("/-/new?template=Templates/Weekly status&name=Team/Week 48").get_data(as_text=True)
    today = date.today().isoformat()
    assert f"# Week 48: week of {today}" in form and "status: on-track" in form and 'name="from_template"' in form
    assert "Decision record" in form  # both offered
    r = client.post("/-/new", data={"name": "Team/ADR 1", "from_template": "1", "message": "",
                                    "text": instantiate(listing and app.extensions["tacit"].pages.get(
                                        "Templates/Decision record").markdown, "", "Anonymous")})
    assert r.status_code == 302
    text = app.extensions["tacit"].pages.get("Team/ADR 1").markdown
    assert "# ADR 1" in text and "{{" not in text and f"Date: {today}" in text
    missing = client.get("/-/edit/Team/Other?template=Templates/Decision record").get_data(as_text=True)
    assert "# Other" in missing  # following a red link offers the templates too


# -- tags ----------------------------------------------------------------------------------

def test_tags_list_and_pages(app, client):
    wiki = app.extensions["tacit"]
    wiki.pages.save("A", "---\ntags: [infra, q4]\n---\n# A\n", ALICE)
    wiki.pages.save("B", "---\ntags: [infra]\nstatus: done\n---\n# B\n", ALICE)
    tags = client.get("/-/tags").get_data(as_text=True)
    assert re.search(r'/-/tags/infra">infra</a> <span class="count">2<', tags)
    one = client.get("/-/tags/infra").get_data(as_text=True)
    assert 'href="/A"' in one and 'href="/B"' in one and "status-done" in one
    assert client.get("/-/tags/nothing").status_code == 404
    api = client.get("/-/api/v1/tags").get_json()
    assert {"tag": "q4", "count": 1, "pages": ["A"]} in api
    wiki.search.wait_for_rebuild()
    wiki.search.catch_up(wait=True)
    found = client.get("/-/api/v1/search?q=tag:q4").get_json()
    assert [h["path"] for h in found["results"]] == ["A"], found


# -- dashboards on a scripted history ------------------------------------------------------

def commit_at(store: PageStore, name: str, text: str, when: datetime, author: Person = ANN) -> str:
    repo = store.repo
    head = repo.head()
    tree = repo.write_tree_with(repo.commit(head).tree if head else None,
                                {f"{name}.md": repo.write_blob(text.encode())})
    sha = repo.write_commit(tree, [head] if head else [], author, f"edit {name}", when=int(when.timestamp()))
    assert repo.compare_and_swap(sha, head)
    return sha


def status_text(status: str, owner: str = "ann", every: str = "14d") -> str:
    return f"---\nstatus: {status}\nowner: {owner}\nreview_every: {every}\n---\n# Page\n"


def test_dashboard_contents_on_a_scripted_history(store):
    now = datetime.now(timezone.utc)
    # in time order, as commits are (git log --since stops at the first older commit)
    commit_at(store, "Projects/Beta", status_text("blocked", owner="bob"), now - timedelta(weeks=30))
    commit_at(store, "Projects/Alpha", status_text("on-track"), now - timedelta(weeks=10))
    commit_at(store, "Projects/Sub/Gamma", status_text("done", every="1y"), now - timedelta(weeks=3))
    commit_at(store, "Projects/Alpha", status_text("at-risk"), now - timedelta(weeks=2))
    commit_at(store, "Projects/Notes", "# Just notes\n", now - timedelta(weeks=1))
    commit_at(store, "Other/Delta", status_text("on-track"), now - timedelta(weeks=1))
    commit_at(store, "Projects/Alpha", status_text("at-risk", every="7d"), now - timedelta(days=1))
    talk = TalkStore(store)
    talk.start("Projects/Beta", "Unblock?", "What do we need?", ALICE, "alice")
    board = StatusBoard(store, talk)
    rows = {r.page: r for r in board.board("Projects")}
    assert set(rows) == {"Projects/Alpha", "Projects/Beta", "Projects/Sub/Gamma"}  # only pages with a status
    alpha, beta = rows["Projects/Alpha"], rows["Projects/Beta"]
    assert alpha.meta.status == "at-risk" and alpha.activity[-1] == 1 and sum(alpha.activity) == 3
    assert alpha.activity.index(1) == WEEKS - 1 - 10  # the edit ten weeks ago sits in its week
    assert len(alpha.activity) == WEEKS and not alpha.overdue
    assert beta.overdue and beta.open_threads == 1 and sum(beta.activity) == 0  # thirty weeks ago: outside
    assert beta.next_review == (now - timedelta(weeks=30)).date() + timedelta(days=14)
    assert board.counts(list(rows.values())) == [("on-track", 0), ("at-risk", 1), ("blocked", 1), ("done", 1)]
    assert [r.page for r in board.stale()] == ["Projects/Beta"]
    assert [r.page for r in board.board()] == ["Other/Delta", "Projects/Alpha", "Projects/Beta", "Projects/Sub/Gamma"]
    later = date.today() + timedelta(days=30)
    assert {r.page for r in board.stale(today=later)} == {"Projects/Alpha", "Projects/Beta", "Other/Delta"}


def test_dashboard_page_sorts_filters_and_embeds(app, client):
    wiki = app.extensions["tacit"]
    wiki.pages.save("Projects/Alpha", status_text("at-risk", owner="ann"), ALICE)
    wiki.pages.save("Projects/Beta", status_text("blocked", owner="bob"), ALICE)
    wiki.pages.save("Projects/Gamma", status_text("on-track", owner="ann"), ALICE)
    page = client.get("/-/status/Projects").get_data(as_text=True)
    assert page.count('class="status-badge status-') == 3 and "<svg" in page and 'class="sparkline"' in page
    assert 'aria-label="Pages by status: 1 on-track, 1 at-risk, 1 blocked, 0 done"' in page
    by_owner = client.get("/-/status/Projects?owner=bob").get_data(as_text=True)
    assert "Projects/Beta" in by_owner and "Projects/Alpha" not in by_owner
    sorted_desc = client.get("/-/status/Projects?sort=status&order=desc").get_data(as_text=True)
    order = [m for m in re.findall(r'href="/(Projects/\w+)"', sorted_desc)]
    assert order[:3] == ["Projects/Gamma", "Projects/Beta", "Projects/Alpha"]  # on-track > blocked > at-risk
    api = client.get("/-/api/v1/status?folder=Projects&status=blocked").get_json()
    assert [p["path"] for p in api["pages"]] == ["Projects/Beta"] and api["pages"][0]["edits_per_week"][-1] == 1
    wiki.pages.save("Home", "# Home\n\n```dashboard\nfolder: Projects\nstatus: at-risk\n```\n", ALICE,
                    base=wiki.pages.head())
    home = client.get("/Home").get_data(as_text=True)
    assert 'class="status-table"' in home and "Projects/Alpha" in home and "Projects/Beta" not in home


def test_reviewed_still_current_records_a_commit(app, client):
    wiki = app.extensions["tacit"]
    old = datetime.now(timezone.utc) - timedelta(days=40)
    commit_at(wiki.pages, "Ops/Runbook", status_text("on-track", every="30d"), old)
    assert [r.page for r in wiki.status.stale()] == ["Ops/Runbook"]
    page = client.get("/Ops/Runbook").get_data(as_text=True)
    assert "Review overdue since" in page and "Reviewed, still current" in page
    assert "Ops/Runbook" in client.get("/-/stale").get_data(as_text=True)
    head = wiki.pages.head()
    r = client.post("/-/reviewed/Ops/Runbook", data={"base": head})
    assert r.status_code == 302 and wiki.pages.head() != head
    commit = wiki.repo.commit(wiki.pages.head())
    assert "Reviewed Ops/Runbook" in commit.message
    assert parse(wiki.pages.get("Ops/Runbook").markdown)[0].reviewed == date.today()
    assert wiki.status.stale() == []
    assert "Review overdue" not in client.get("/Ops/Runbook").get_data(as_text=True)


def _strict_json(data: bytes):
    """JSON as the standard has it: NaN and Infinity are not JSON (Python's parser accepts them)."""
    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")
    return json.loads(data, parse_constant=refuse)


def test_front_matter_beyond_json_still_answers_json(client):
    """A set, binary, .inf and .nan are YAML but not JSON: the API still answers JSON, never a 500."""
    text = ("---\nstatus: done\nletters: !!set {b, a}\nbin: !!binary aGVsbG8=\nbig: .inf\nsmall: -.inf\n"
            "odd: .nan\n---\nx\n")
    assert client.put("/-/api/v1/pages/Odd", json={"markdown": text}).status_code == 201
    page = client.get("/-/api/v1/pages/Odd")
    assert page.status_code == 200
    meta = _strict_json(page.data)["meta"]
    assert (meta["letters"], meta["bin"], meta["big"], meta["small"], meta["odd"]) == (
        ["a", "b"], "hello", ".inf", "-.inf", ".nan")
    board = client.get("/-/api/v1/status")
    assert board.status_code == 200 and _strict_json(board.data)["pages"][0]["meta"]["odd"] == ".nan"
