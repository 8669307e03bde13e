"""Markdown rendering: features, wiki links, anchors, sections, cache and sanitizing."""

from __future__ import annotations

import html as html_mod
import json
import re
import subprocess
import tarfile
import threading
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import pytest

from wiki.core import render as render_mod
from wiki.core.render import Heading, Rendered, Renderer, pygments_css, slugify
from wiki.core.sections import split_sections

from .conftest import shared_file, test_data



def page_url(path: str) -> str:
    return "/wiki/" + quote(path)


def edit_url(path: str) -> str:
    return "/-/edit/" + quote(path)


def section_edit_url(path: str, n: int) -> str:
    return f"/-/edit/{quote(path)}?section={n}"


@pytest.fixture
def r() -> Renderer:
    return Renderer(page_url=page_url, edit_url=edit_url, section_edit_url=section_edit_url)


def html_of(renderer: Renderer, md: str, page: str = "Home") -> str:
    return renderer.render(md, page).html


class TagCollector(HTMLParser):
    """Every start tag with its (entity-unescaped) attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def tags_of(html: str) -> list[tuple[str, dict[str, str | None]]]:
    p = TagCollector()
    p.feed(html)
    p.close()
    return [(t, dict(a)) for t, a in p.tags]


def links_in(html: str) -> list[dict[str, str | None]]:
    return [a for t, a in tags_of(html) if t == "a"]


# --------------------------------------------------------------------------- features


def test_table_with_alignment(r: Renderer) -> None:
    out = html_of(r, "| a | b | c |\n|:--|:-:|--:|\n| 1 | 2 | 3 |\n")
    assert "<table>" in out and "<thead>" in out and "<tbody>" in out
    assert '<th style="text-align:left">a</th>' in out
    assert '<td style="text-align:center">2</td>' in out
    assert '<td style="text-align:right">3</td>' in out


def test_style_only_text_align_on_cells(r: Renderer) -> None:
    out = html_of(r, '<table><tr><td style="color:red; text-align:center" align="right">x</td></tr></table>\n'
                     '<p style="color:red">p</p>')
    cell = [a for t, a in tags_of(out) if t == "td"][0]
    assert cell["style"] == "text-align:center"
    assert cell["align"] == "right"
    assert "color" not in out
    assert [a for t, a in tags_of(out) if t == "p"] == [{}]


def test_footnotes(r: Renderer) -> None:
    out = html_of(r, "Text with a note.[^n]\n\n[^n]: The note.\n")
    assert '<sup class="footnote-ref" id="fnref-1"><a href="#fn-1">1</a></sup>' in out
    assert '<section class="footnotes">' in out
    assert '<li id="fn-1"><p>The note.' in out
    assert 'href="#fnref-1"' in out


def test_strikethrough(r: Renderer) -> None:
    assert "<del>gone</del>" in html_of(r, "this is ~~gone~~ now")


def test_task_lists(r: Renderer) -> None:
    out = html_of(r, "- [ ] open\n- [x] done\n")
    inputs = [a for t, a in tags_of(out) if t == "input"]
    assert len(inputs) == 2
    assert all(a.get("type") == "checkbox" and "disabled" in a for a in inputs)
    assert "checked" not in inputs[0] and "checked" in inputs[1]
    assert 'class="task-list-item"' in out


def test_raw_input_cannot_be_a_form_field(r: Renderer) -> None:
    out = html_of(r, '<input type="text" name="password" value="x" autofocus onfocus="alert(1)">')
    inputs = [a for t, a in tags_of(out) if t == "input"]
    assert inputs == [{"disabled": ""}]


def test_autolinks(r: Renderer) -> None:
    out = html_of(r, "see https://example.com/path?q=1 and <https://example.org>")
    hrefs = [a["href"] for a in links_in(out)]
    assert hrefs == ["https://example.com/path?q=1", "https://example.org"]
    assert r.render("see https://example.com/x", "Home").links == frozenset()


def test_definition_lists(r: Renderer) -> None:
    out = html_of(r, "Apple\n: A fruit.\n\nOrange\n: Also a fruit.\n")
    assert "<dl>" in out and "<dt>Apple</dt>" in out and "<dd>A fruit.</dd>" in out


def test_raw_html_github_style(r: Renderer) -> None:
    out = html_of(r, "Press <kbd>Ctrl</kbd>+<kbd>C</kbd>, x<sup>2</sup>\n\n"
                     "<details open><summary>More</summary>\n\nHidden *text*\n\n</details>\n")
    assert "<kbd>Ctrl</kbd>" in out and "<sup>2</sup>" in out
    assert "<details open" in out and "<summary>More</summary>" in out
    assert "<em>text</em>" in out


def test_dangerous_html_removed(r: Renderer) -> None:
    out = html_of(r, '<script>alert(1)</script><img src=x onerror="alert(1)">\n\n'
                     'text <a href="javascript:alert(1)" target="_blank" style="color:red">j</a>\n\n'
                     "[md](javascript:alert(1)) <iframe src=https://e.com></iframe>")
    low = out.lower()
    assert "<script" not in low and "alert(1)</" not in low
    assert "onerror" not in low and "javascript:" not in low
    assert "target" not in low and "style" not in low and "<iframe" not in low
    assert [a.get("href") for a in links_in(out)] == [None, "#harmful-link"]
    assert "rel=" not in low  # link_rel=None: we add nothing


# --------------------------------------------------------------------------- wiki links


@pytest.mark.parametrize(
    "md, path, fragment, label",
    [
        ("[[Page]]", "Page", "", "Page"),
        ("[[Page|the label]]", "Page", "", "the label"),
        ("[[Page#Some Section]]", "Page", "#some-section", "Page"),
        ("[[Page#Some Section|label]]", "Page", "#some-section", "label"),
        ("[[Other/Deep Page]]", "Other/Deep Page", "", "Other/Deep Page"),  # bare = from the root
        ("[[/Top]]", "Top", "", "/Top"),
        ("[[./Sibling]]", "Projects/Alpha/Sibling", "", "./Sibling"),
        ("[[../Beta/Plan]]", "Projects/Beta/Plan", "", "../Beta/Plan"),
        ("[[../../Root Page|up]]", "Root Page", "", "up"),
        ("[[./a/./b/../c]]", "Projects/Alpha/a/c", "", "./a/./b/../c"),
        ("[[ Spaced  |  lbl ]]", "Spaced", "", "lbl"),
    ],
)
def test_wikilink_forms(r: Renderer, md: str, path: str, fragment: str, label: str) -> None:
    res = r.render("See " + md + ".", "Projects/Alpha/Status")
    (a,) = links_in(res.html)
    assert a == {"class": "wikilink", "href": page_url(path) + fragment, "data-wikilink": path}
    assert f">{html_mod.escape(label)}</a>" in res.html
    assert res.links == frozenset({path})


@pytest.mark.parametrize("md", ["[[../../../Escape]]", "[[/..]]", "[[../../..]]", "[[ ]]", "[[|label]]", "[[/]]"])
def test_wikilink_invalid_target_is_plain_text(r: Renderer, md: str) -> None:
    res = r.render(md, "Projects/Alpha/Status")
    assert "<a" not in res.html
    assert html_mod.escape(md, quote=False) in res.html
    assert res.links == frozenset()


def test_wikilink_label_is_escaped(r: Renderer) -> None:
    res = r.render('[[Page|<b onclick="x">bold</b>]]', "Home")
    assert [t for t, _ in tags_of(res.html)] == ["p", "a"]
    assert '>&lt;b onclick="x"&gt;bold&lt;/b&gt;</a>' in res.html


def test_wikilink_in_page_anchor(r: Renderer) -> None:
    res = r.render("[[#Usage Notes]]", "Home")
    assert links_in(res.html) == [{"class": "wikilink", "href": "#usage-notes"}]
    assert res.links == frozenset()


def test_wikilink_not_in_code(r: Renderer) -> None:
    res = r.render("Inline `[[Page]]` code.\n\n```\n[[Other]]\n```\n\n    [[Indented]]\n", "Home")
    assert "<a" not in res.html
    assert "<code>[[Page]]</code>" in res.html
    assert "[[Other]]" in res.html and "[[Indented]]" in res.html
    assert res.links == frozenset()


def test_links_collects_all_targets(r: Renderer) -> None:
    res = r.render("[[A]] [[B|b]] [[A#x]] [rel](C.md) [abs](/D) ![img](E.png)", "Home")
    assert res.links == frozenset({"A", "B", "C"})


# --------------------------------------------------------------------------- relative links


def test_relative_markdown_links_in_subfolder(r: Renderer) -> None:
    res = r.render(
        "[same](Other.md) [frag](Other.md#part-two) [up](../Up.md) [deep](sub/Deep%20Page.md) "
        "[noext](Plain) [query](Q.md?x=1)",
        "Docs/Guide/Intro",
    )
    got = [(a["href"], a.get("data-wikilink")) for a in links_in(res.html)]
    assert got == [
        (page_url("Docs/Guide/Other"), "Docs/Guide/Other"),
        (page_url("Docs/Guide/Other") + "#part-two", "Docs/Guide/Other"),
        (page_url("Docs/Up"), "Docs/Up"),
        (page_url("Docs/Guide/sub/Deep Page"), "Docs/Guide/sub/Deep Page"),
        (page_url("Docs/Guide/Plain"), "Docs/Guide/Plain"),
        (page_url("Docs/Guide/Q") + "?x=1", "Docs/Guide/Q"),
    ]
    assert res.links == frozenset(p for _, p in got)


def test_absolute_and_external_links_left_alone(r: Renderer) -> None:
    res = r.render("[a](/abs/Page.md) [b](https://example.com/x.md) [c](#local) [d](mailto:a@b.c) "
                   "[e](//cdn.example.com/x)", "Docs/Intro")
    hrefs = [a["href"] for a in links_in(res.html)]
    assert hrefs == ["/abs/Page.md", "https://example.com/x.md", "#local", "mailto:a@b.c", "//cdn.example.com/x"]
    assert all("data-wikilink" not in a for a in links_in(res.html))
    assert res.links == frozenset()


def test_relative_images_resolved_but_not_links(r: Renderer) -> None:
    res = r.render("![diagram](img/arch.png \"Arch\") ![abs](/static/x.png)", "Docs/Guide/Intro")
    imgs = [a for t, a in tags_of(res.html) if t == "img"]
    assert imgs[0] == {"src": page_url("Docs/Guide/img/arch.png"), "alt": "diagram", "title": "Arch"}
    assert imgs[1]["src"] == "/static/x.png"
    assert res.links == frozenset()


def test_relative_link_escaping_root_is_left_as_written(r: Renderer) -> None:
    res = r.render("[x](../../Nowhere.md)", "Docs/Intro")
    assert links_in(res.html) == [{"href": "../../Nowhere.md"}]
    assert res.links == frozenset()


# --------------------------------------------------------------------------- headings


def test_heading_anchors_and_duplicates(r: Renderer) -> None:
    res = r.render("# Intro\n\n## Setup\n\n## Setup\n\n## Setup\n\n## Setup-1\n", "Home")
    assert [h.anchor for h in res.headings] == ["intro", "setup", "setup-1", "setup-2", "setup-1-1"]
    for h in res.headings:
        assert f'id="{h.anchor}"' in res.html
        assert f'<a class="anchor" href="#{h.anchor}" aria-hidden="true">#</a>' in res.html


def test_heading_anchor_unicode_and_punctuation(r: Renderer) -> None:
    res = r.render("## Über Straße!\n\n## 日本語 の テスト\n\n## C++ & Rust: a *fast* intro?\n\n## !!!\n\n## ???\n", "Home")
    assert [h.anchor for h in res.headings] == [
        "über-straße", "日本語-の-テスト", "c--rust-a-fast-intro", "section", "section-1"]
    assert res.headings[2].text == "C++ & Rust: a fast intro?"
    assert slugify("  Hello   World  ") == "hello-world"
    assert slugify("A & B") == "a--b"  # GitHub: each space becomes "-"
    assert slugify("") == "section"


def test_per_render_state_does_not_leak(r: Renderer) -> None:
    first = r.render("# Same\n\n[[A]]\n", "Home")
    second = r.render("# Same\n\n[[B]]\n", "Home")
    assert [h.anchor for h in second.headings] == ["same"]
    assert second.links == frozenset({"B"})
    assert first.links == frozenset({"A"})


def test_title_only_when_document_starts_with_h1(r: Renderer) -> None:
    assert r.render("\n\n# The *Title*\n\nbody", "Home").title == "The Title"
    assert r.render("Setext Title\n===\n", "Home").title == "Setext Title"
    assert r.render("intro\n\n# Late\n", "Home").title is None
    assert r.render("## Sub first\n\n# Then\n", "Home").title is None
    assert r.render("no headings", "Home").title is None


def test_toc_html(r: Renderer) -> None:
    assert r.render("# A\n\n## B\n", "Home").toc_html() == ""
    res = r.render("# A & <i>B</i>\n\n## Sub 1\n\n### Deep\n\n## Sub 2\n\n# Z\n", "Home")
    toc = res.toc_html()
    assert toc.startswith('<ul class="toc">')
    assert '<a href="#a--b">A &amp; B</a>' in toc
    assert toc.count("<ul") == toc.count("</ul>") == 3
    assert toc.count("<li>") == toc.count("</li>") == 5
    # Deep is nested two lists down, Z is back at the top level
    assert re.search(r"Sub 1</a>\s*<ul>\s*<li><a href=\"#deep\">", toc)
    assert re.search(r"</ul>\s*</li>\s*<li><a href=\"#z\">Z</a></li>\s*</ul>\s*$", toc)


def test_toc_handles_skipped_levels() -> None:
    hs = tuple(Heading(lvl, f"h{i}", f"h{i}", None) for i, lvl in enumerate([2, 4, 3, 1, 3]))
    toc = Rendered("", None, hs, frozenset()).toc_html()
    assert toc.count("<ul") == toc.count("</ul>")
    assert toc.count("<li>") == toc.count("</li>") == 5
    tags_of(toc)  # parses


# --------------------------------------------------------------------------- sections


def test_edit_section_links_match_split_sections(r: Renderer) -> None:
    md = "Intro\n\n# One\n\n## Two\n\n> ## Quoted\n\n- ## In list\n\n```\n# code\n```\n\n### Three\n\nFour\n----\n"
    res = r.render(md, "Team/Notes")
    numbers = {s.title: s.number for s in split_sections(md)}
    assert numbers == {"One": 1, "Two": 2, "Three": 3, "Four": 4}
    assert [(h.text, h.section) for h in res.headings] == [
        ("One", 1), ("Two", 2), ("Quoted", None), ("In list", None), ("Three", 3), ("Four", 4)]
    edits = [a["href"] for a in links_in(res.html) if a.get("class") == "edit-section"]
    assert edits == [section_edit_url("Team/Notes", n) for n in (1, 2, 3, 4)]


def test_section_mismatch_does_not_shift_later_numbers(r: Renderer) -> None:
    # sections.py reads "[foo]: /url\nbar" as the setext title; mistune drops the
    # reference definition. "bar" gets no edit link; "Next" keeps number 2.
    md = "[foo]: /url\nbar\n===\n\n# Next\n"
    assert [s.number for s in split_sections(md)] == [1, 2]
    res = r.render(md, "Home")
    assert [(h.text, h.section) for h in res.headings] == [("bar", None), ("Next", 2)]
    assert [a["href"] for a in links_in(res.html) if a.get("class") == "edit-section"] == [
        section_edit_url("Home", 2)]


def test_no_edit_links_without_section_edit_url() -> None:
    plain = Renderer(page_url=page_url)
    res = plain.render("# One\n\n## Two\n", "Home")
    assert "edit-section" not in res.html
    assert [h.section for h in res.headings] == [1, 2]


# --------------------------------------------------------------------------- code


def test_python_code_highlighted_with_classes(r: Renderer) -> None:
    out = html_of(r, "```python\ndef f(x):\n    return x < 1\n```\n")
    assert out.startswith('<pre class="highlight"><code class="language-python">')
    assert '<span class="k">def</span>' in out
    assert '<span class="nf">f</span>' in out
    assert "&lt;" in out
    assert "style=" not in out


@pytest.mark.parametrize("fence", ["```nosuchlanguage", "```", "~~~"])
def test_unknown_or_missing_language_is_escaped_plain(r: Renderer, fence: str) -> None:
    close = fence[:3]
    out = html_of(r, f"{fence}\n<b>bold</b> & [[Page]]\n{close}\n")
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; [[Page]]" in out
    assert "<span" not in out and "<b>" not in out
    assert out.startswith('<pre class="highlight"><code')


def test_pygments_css_light_and_dark() -> None:
    css = pygments_css()
    assert ".highlight .k " in css
    assert "@media (prefers-color-scheme: dark)" in css
    light, dark = css.split("@media (prefers-color-scheme: dark)")
    assert light.strip() and dark.strip()
    selectors = [ln.split("{")[0] for ln in css.splitlines() if "{" in ln and not ln.startswith("@media")]
    assert selectors and all(s.strip().startswith(".highlight") for s in selectors)


# --------------------------------------------------------------------------- mark_missing


def test_mark_missing(r: Renderer) -> None:
    res = r.render("[[Exists]] [[Missing Page]] [rel](Nope.md) [ext](https://e.com)", "Home")
    calls: list[str] = []

    def exists(p: str) -> bool:
        calls.append(p)
        return p == "Exists"

    out = r.mark_missing(res.html, exists)
    a_exists, a_missing, a_rel, a_ext = links_in(out)
    assert a_exists == {"class": "wikilink", "href": page_url("Exists"), "data-wikilink": "Exists"}
    assert a_missing == {"class": "wikilink missing", "href": edit_url("Missing Page"),
                         "data-wikilink": "Missing Page", "title": "Create page Missing Page"}
    assert a_rel["class"] == "missing" and a_rel["href"] == edit_url("Nope")
    assert a_ext == {"href": "https://e.com"}
    assert sorted(calls) == ["Exists", "Missing Page", "Nope"]


def test_mark_missing_fast_path_returns_input(r: Renderer) -> None:
    res = r.render("[[A]] [[A]] [[B]]", "Home")
    seen: list[str] = []
    out = r.mark_missing(res.html, lambda p: seen.append(p) or True)
    assert out is res.html
    assert sorted(seen) == ["A", "B"]  # each target asked once
    plain = r.render("no links", "Home").html
    assert r.mark_missing(plain, lambda p: False) is plain


def test_mark_missing_without_edit_url_keeps_href() -> None:
    rr = Renderer(page_url=page_url)
    out = rr.mark_missing(rr.render("[[Gone]]", "Home").html, lambda p: False)
    (a,) = links_in(out)
    assert a["href"] == page_url("Gone") and a["class"] == "wikilink missing"


def test_mark_missing_crafted_attribute_cannot_break_out(r: Renderer) -> None:
    crafted = 'x" onmouseover="alert(1)" y="<b>&amp;'
    # (an unclosed <script> would swallow the rest of the page, which is safe but not the point here)
    md = (
        f"<a href=\"#\" data-wikilink='{crafted}'>c</a>\n\n"
        # a fake <a> inside another tag's attribute value must not be rewritten
        "<abbr title='<a data-wikilink=Evil onclick=alert(2)>'>t</abbr>\n\n"
        '[[Page "quoted" <x>|lbl]]\n'
    )
    res = r.render(md, "Home")
    out = r.mark_missing(res.html, lambda p: False)
    assert "<script" not in out.lower()
    for tag, attrs in tags_of(out):
        assert not any(re.fullmatch(r"on[a-z]+", k, re.I) for k in attrs), (tag, attrs)
    anchors = links_in(out)
    value = html_mod.unescape(crafted)  # what the browser sees in the attribute
    assert anchors[0]["data-wikilink"] == value
    assert anchors[0]["title"] == "Create page " + value
    assert anchors[0]["href"] == edit_url(value)
    abbr = [a for t, a in tags_of(out) if t == "abbr"][0]
    assert abbr == {"title": "<a data-wikilink=Evil onclick=alert(2)>"}
    assert anchors[1]["data-wikilink"] == 'Page "quoted" <x>'
    assert len(anchors) == 2


# --------------------------------------------------------------------------- cache


def count_parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    original = Renderer._render_uncached

    def counting(self: Renderer, markdown: str, page_path: str) -> Rendered:
        # only this test's renders: search indexers of other tests' apps may render in background threads
        if threading.current_thread() is threading.main_thread():
            calls.append(page_path)
        return original(self, markdown, page_path)

    monkeypatch.setattr(Renderer, "_render_uncached", counting)
    return calls


def test_memory_cache_hit(r: Renderer, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = count_parses(monkeypatch)
    a = r.render("# Hi\n\n[x](Other.md)", "Docs/One", cache_key="blob1")
    b = r.render("# Hi\n\n[x](Other.md)", "Docs/One", cache_key="blob1")
    assert b is a
    assert len(calls) == 1
    r.render("# Hi\n\n[x](Other.md)", "Docs/One", cache_key="blob2")  # other content id
    r.render("# Hi\n\n[x](Other.md)", "Elsewhere/One", cache_key="blob1")  # other folder
    r.render("# Hi\n\n[x](Other.md)", "Docs/One")  # no key: never cached
    assert len(calls) == 4


def test_cache_key_scope_is_folder_without_section_links(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = count_parses(monkeypatch)
    rr = Renderer(page_url=page_url)
    a = rr.render("[x](Other.md)", "Docs/One", cache_key="k")
    b = rr.render("[x](Other.md)", "Docs/Two", cache_key="k")  # same folder: same html
    assert b is a and len(calls) == 1
    # with edit-section links the page itself is part of the key
    calls.clear()
    r2 = Renderer(page_url=page_url, section_edit_url=section_edit_url)
    one = r2.render("# H", "Docs/One", cache_key="k")
    two = r2.render("# H", "Docs/Two", cache_key="k")
    assert len(calls) == 2 and section_edit_url("Docs/Two", 1) in two.html and one is not two


def test_memory_lru_evicts(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = count_parses(monkeypatch)
    rr = Renderer(page_url=page_url, memory_items=2)
    for key in ("a", "b", "a", "c", "a", "b"):
        rr.render("text " + key, "P", cache_key=key)
    # a, b miss; a hit; c miss (evicts b); a hit; b miss
    assert len(calls) == 4


def test_disk_cache_shared_between_instances(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = count_parses(monkeypatch)
    r1 = Renderer(page_url=page_url, section_edit_url=section_edit_url, cache_dir=tmp_path)
    first = r1.render("# Title\n\n[[Link]] one\n\n## Two\n", "Docs/P", cache_key="blob-1")
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) == 1 and len(files[0].parent.name) == 2 and len(files[0].name) == 38
    assert json.loads(files[0].read_text(encoding="utf-8"))["html"] == first.html
    r2 = Renderer(page_url=page_url, section_edit_url=section_edit_url, cache_dir=tmp_path)
    # same key, different text: only a cache hit can return the first result
    second = r2.render("completely different", "Docs/P", cache_key="blob-1")
    assert len(calls) == 1
    assert second == first
    assert second.headings[0] == Heading(1, "Title", "title", 1)
    assert not [p for p in tmp_path.rglob(".tmp-*")]


def test_corrupt_disk_cache_is_ignored_and_rewritten(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    r1 = Renderer(page_url=page_url, cache_dir=tmp_path)
    good = r1.render("# Good\n", "P", cache_key="k")
    (cache_file,) = [p for p in tmp_path.rglob("*") if p.is_file()]
    for garbage in (b"{not json", b'{"key": 1}', b"\xff\xfe\x00", b'["list"]', b""):
        cache_file.write_bytes(garbage)
        calls = count_parses(monkeypatch)
        r2 = Renderer(page_url=page_url, cache_dir=tmp_path)
        again = r2.render("# Good\n", "P", cache_key="k")
        assert again == good
        assert len(calls) == 1
        assert json.loads(cache_file.read_text(encoding="utf-8"))["html"] == good.html
        monkeypatch.undo()


def test_unwritable_cache_dir_does_not_fail_render(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    rr = Renderer(page_url=page_url, cache_dir=blocker)
    assert "<h1" in rr.render("# Fine", "P", cache_key="k").html


def test_version_in_cache_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    r1 = Renderer(page_url=page_url, cache_dir=tmp_path)
    r1.render("x", "P", cache_key="k")
    monkeypatch.setattr(render_mod.cache, "VERSION_TAG", "changed")
    calls = count_parses(monkeypatch)
    Renderer(page_url=page_url, cache_dir=tmp_path).render("x", "P", cache_key="k")
    assert len(calls) == 1
    assert len([p for p in tmp_path.rglob("*") if p.is_file()]) == 2


def test_lone_surrogates_do_not_fail(r: Renderer) -> None:
    res = r.render("a\ud800b [[x\udfffy]]", "P")
    assert "a\ufffdb" in res.html
    assert res.links == frozenset({"x\ufffdy"})


def test_parser_failure_falls_back_to_escaped_source(r: Renderer, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(self: object, text: str, level: int, **attrs: object) -> str:
        raise RuntimeError("bug")

    monkeypatch.setattr(render_mod.htmlrenderer.WikiHTMLRenderer, "heading", boom)
    res = r.render("# Head <script>x</script>\n", "P")
    assert res.html == '<pre class="render-error"><code># Head &lt;script&gt;x&lt;/script&gt;\n</code></pre>\n'
    assert res.headings == () and res.title is None
    monkeypatch.undo()
    assert r.render("# Head\n", "P").title == "Head"  # the thread's parser recovered


# --------------------------------------------------------------------------- threads


def test_concurrent_renders_are_isolated(r: Renderer) -> None:
    docs = [f"# Doc {i}\n\n## Part\n\n## Part\n\n[[Target {i}]] [rel](x{i}.md)\n" for i in range(40)]
    expected = [r.render(d, f"F{i}/Page") for i, d in enumerate(docs)]
    barrier = threading.Barrier(8)

    def job(i: int) -> Rendered:
        if i < 8:
            barrier.wait()
        return r.render(docs[i], f"F{i}/Page")

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(job, range(40)))
    assert results == expected
    assert all([h.anchor for h in res.headings][1:] == ["part", "part-1"] for res in results)


# --------------------------------------------------------------------------- security corpora

URL_ATTRS = {"href", "src", "action", "formaction", "xlink:href"}
BAD_SCHEMES = ("javascript:", "vbscript:", "data:text/html")


def assert_safe(out: str, context: str = "") -> None:
    low = out.lower()
    assert "<script" not in low, context
    for tag, attrs in tags_of(out):
        for name, value in attrs.items():
            assert not re.fullmatch(r"on[a-z]+", name, re.I), (context, tag, name)
            if name.lower() in URL_ATTRS and value is not None:
                squashed = re.sub(r"[\s\x00-\x1f]+", "", value).lower()
                assert not any(s in squashed for s in BAD_SCHEMES), (context, tag, name, value)
    # also on the raw tag text, with attribute values blanked out
    for m in re.finditer(r"<[a-zA-Z][^>]*>", re.sub(r'"[^"]*"', '""', out)):
        assert not re.search(r"\son[a-z]+\s*=", m.group(0), re.I), (context, m.group(0))


def read_corpus(name: str) -> list[str]:
    path = test_data(name)
    with open(path, encoding="utf-8", newline="") as f:
        return f.read().split("\n")


def test_xss_payloads_each_and_joined(r: Renderer) -> None:
    payloads = read_corpus("xss-payloads.txt")
    assert len(payloads) > 100
    for i, payload in enumerate(payloads):
        res = r.render(payload, "Sec/Page")
        assert_safe(res.html, f"payload {i}: {payload!r}")
        assert_safe(r.mark_missing(res.html, lambda p: False), f"payload {i} (missing)")
        assert_safe(res.toc_html(), f"payload {i} (toc)")
    joined = r.render("\n".join(payloads), "Sec/Page")
    assert_safe(joined.html, "all payloads")
    assert_safe(r.mark_missing(joined.html, lambda p: False), "all payloads (missing)")


def test_xss_event_handlers_removed(r: Renderer) -> None:
    names = [n.strip() for n in read_corpus("xss-event-handlers.txt") if n.strip()]
    assert len(names) > 50
    for name in names:
        out = html_of(r, f'<img src=x {name}=alert(1)>\n\n<a href="#" {name}="x">l</a>')
        found = tags_of(out)
        assert [t for t, _ in found] == ["img", "p", "a"], (name, out)
        for _, attrs in found:
            assert name.lower() not in attrs, (name, out)
        assert_safe(out, name)


def test_naughty_strings_never_raise(r: Renderer) -> None:
    strings = read_corpus("naughty-strings.txt")
    assert len(strings) > 100
    for s in strings:
        res = r.render(s, "Naughty/Page")
        assert isinstance(res.html, str)
        r.mark_missing(res.html, lambda p: False)
        res.toc_html()
    assert_safe(r.render("\n".join(strings), "Naughty/Page").html, "naughty joined")
    # and as wiki link targets and headings
    for s in strings[:200]:
        r.render(f"# {s}\n\n[[{s}]] [[../{s}|{s}]] [x]({s})", "A/B")


# --------------------------------------------------------------------------- tldr sample


@pytest.fixture(scope="module")
def tldr_pages(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, str]]:
    tarball = shared_file("tldr-pages.git.tar.gz")
    dest = tmp_path_factory.mktemp("tldr")
    with tarfile.open(tarball) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, filter="data")
        else:  # pragma: no cover - Python 3.11 before 3.11.4
            tar.extractall(dest)
    git_dir = dest / "tldr-pages.git"
    names = subprocess.run(
        ["git", "--git-dir", str(git_dir), "ls-tree", "-r", "--name-only", "main"],
        check=True, capture_output=True, text=True,
    ).stdout.splitlines()
    chosen = [n for n in names[::37] if n.endswith(".md")]
    # one git process for all blobs: "<sha> blob <size>\n<content>\n" per request
    batch = subprocess.run(
        ["git", "--git-dir", str(git_dir), "cat-file", "--batch"],
        input="".join(f"main:{n}\n" for n in chosen).encode(), check=True, capture_output=True,
    ).stdout
    pages: list[tuple[str, str]] = []
    pos = 0
    for name in chosen:
        header_end = batch.index(b"\n", pos)
        size = int(batch[pos:header_end].split()[2])
        content = batch[header_end + 1: header_end + 1 + size]
        pos = header_end + 1 + size + 1
        pages.append((name[:-3], content.decode("utf-8")))
    return pages


def test_tldr_sample_renders(r: Renderer, tldr_pages: list[tuple[str, str]]) -> None:
    assert 150 <= len(tldr_pages) <= 260
    for name, text in tldr_pages:
        res = r.render(text, name, cache_key=name)
        assert res.html.strip(), name
        assert_safe(res.html, name)
        if text.startswith("# "):
            assert res.title == text.split("\n", 1)[0][2:].strip(), name
            assert res.headings[0].section == 1
