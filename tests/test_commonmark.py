"""The CommonMark 0.31.2 examples (tests/data/commonmark-spec.json): what a reader sees of each is
what the spec says, but for the few places where the wiki's own syntax wins on purpose, and no
example, raw HTML included, gets past the sanitizer."""

from __future__ import annotations

import html
import json
import re

import pytest

from wiki.core.render import Renderer

from .conftest import test_data
from .test_render import assert_safe, edit_url, page_url

EXAMPLES = json.loads(test_data("commonmark-spec.json").read_text(encoding="utf-8"))

# Raw HTML is sanitized here, so those sections cannot read as the spec's unsanitized output.
UNSANITIZED = {"Raw HTML", "HTML blocks"}
KNOWN = {
    96: "a page that starts with --- opens its front matter",
    548: "[[...]] is a wiki link",
    559: "[[...]] is a wiki link",
    590: "[[...]] is a wiki link",
}
BLOCK = re.compile(r"</?(?:p|h[1-6]|li|ul|ol|blockquote|pre|hr|br|table|tr|td|th|div|dl|dt|dd)\b[^>]*>", re.I)


def seen_text(markup: str) -> str:
    """The words a reader sees: block tags become spaces, inline tags vanish, entities decode."""
    markup = re.sub(r'<a class="anchor"[^>]*>.*?</a>', "", markup)  # heading anchors the wiki adds
    markup = re.sub(r"<[^>]+>", "", BLOCK.sub(" ", markup))
    return re.sub(r"\s+", " ", html.unescape(markup)).strip()


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(page_url=page_url, edit_url=edit_url)


def test_the_examples_are_all_here() -> None:
    assert len(EXAMPLES) == 652 and {e["example"] for e in EXAMPLES} == set(range(1, 653))


def test_a_reader_sees_what_the_spec_says(renderer: Renderer) -> None:
    differ = []
    for example in EXAMPLES:
        if example["section"] in UNSANITIZED or example["example"] in KNOWN:
            continue
        ours = seen_text(renderer.render(example["markdown"], "Spec/Page").html)
        if ours != seen_text(example["html"]):
            differ.append((example["example"], example["section"], example["markdown"], ours))
    assert not differ, f"{len(differ)} examples read differently: {differ[:5]}"


def test_the_known_differences_still_differ(renderer: Renderer) -> None:
    """When mistune or the wiki syntax changes so that one agrees again, take it off the list."""
    for number in KNOWN:
        example = EXAMPLES[number - 1]
        assert seen_text(renderer.render(example["markdown"], "Spec/Page").html) != seen_text(example["html"]), number


def test_every_example_is_safe(renderer: Renderer) -> None:
    for example in EXAMPLES:
        out = renderer.render(example["markdown"], "Spec/Page")
        assert_safe(out.html, f"example {example['example']}")
        assert_safe(out.toc_html(), f"example {example['example']} (toc)")
