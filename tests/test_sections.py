"""Section splitting and splicing for the section editor."""

from __future__ import annotations

import pytest

from wiki.core.sections import Section, SectionNotFound, get_section, replace_section, split_sections

DOC = """Intro line.

# One

text 1

## One.A

text 1a

### One.A.i

deep

## One.B

text 1b

# Two

text 2
"""


def titles(md: str) -> list[tuple[int, str]]:
    return [(s.level, s.title) for s in split_sections(md)]


def test_numbering_levels_and_ranges() -> None:
    secs = split_sections(DOC)
    assert [s.number for s in secs] == [1, 2, 3, 4, 5]
    assert [(s.level, s.title) for s in secs] == [
        (1, "One"), (2, "One.A"), (3, "One.A.i"), (2, "One.B"), (1, "Two")]
    lines = DOC.split("\n")
    one, one_a, one_a_i, one_b, two = secs
    assert lines[one.start] == "# One"
    # a section runs until the next heading of the same or a higher level
    assert one.end == two.start
    assert one_a.end == one_b.start
    assert one_a_i.end == one_b.start
    assert one_b.end == two.start
    assert two.end == len(DOC.split("\n")) - 1  # the final newline adds no line


def test_section_is_frozen_dataclass() -> None:
    s = split_sections("# A\n")[0]
    assert s == Section(1, 1, "A", 0, 1)
    with pytest.raises(AttributeError):
        s.title = "B"  # type: ignore[misc]


def test_get_section_includes_subsections() -> None:
    assert get_section(DOC, 2) == "## One.A\n\ntext 1a\n\n### One.A.i\n\ndeep\n\n"
    assert get_section(DOC, 5) == "# Two\n\ntext 2\n"


@pytest.mark.parametrize("bad", [0, -1, 6, 99])
def test_bad_section_number_raises(bad: int) -> None:
    with pytest.raises(SectionNotFound):
        get_section(DOC, bad)
    with pytest.raises(LookupError):
        replace_section(DOC, bad, "x")


def test_no_headings_means_no_sections() -> None:
    assert split_sections("just text\n\nmore\n") == []
    with pytest.raises(SectionNotFound):
        get_section("just text\n", 1)


def test_replace_section_keeps_rest_byte_identical() -> None:
    new = replace_section(DOC, 2, "## Renamed\n\nnew body")
    assert new == DOC.replace("## One.A\n\ntext 1a\n\n### One.A.i\n\ndeep\n\n", "## Renamed\n\nnew body\n")
    # the trailing newline was added, so "## One.B" still starts its own line
    assert "new body\n## One.B" in new


def test_replace_roundtrip_is_identity() -> None:
    for n in range(1, 6):
        assert replace_section(DOC, n, get_section(DOC, n)) == DOC


def test_replace_last_section_without_final_newline() -> None:
    md = "# A\na\n# B\nb"
    assert get_section(md, 2) == "# B\nb\n"
    assert replace_section(md, 2, "# C") == "# A\na\n# C\n"
    assert replace_section(md, 1, "# Z\n") == "# Z\n# B\nb"


def test_crlf_treated_as_lf_and_preserved() -> None:
    md = DOC.replace("\n", "\r\n")
    assert titles(md) == titles(DOC)
    assert get_section(md, 5) == "# Two\n\ntext 2\n"
    out = replace_section(md, 5, "# Deux\n\ntexte\n")
    assert out == md.replace("# Two\r\n\r\ntext 2\r\n", "# Deux\r\n\r\ntexte\r\n")
    # a browser textarea sends CRLF; it is written in the document's own style
    assert replace_section(md, 5, "# Deux\r\ntexte") == out.replace("\r\n\r\ntexte", "\r\ntexte")
    assert replace_section(md, 1, get_section(md, 1)) == md


def test_atx_variants() -> None:
    md = "#NoSpace\n   ### Indented ###\n    # code block\n####### seven\n# Closing # hashes ##\n#\n## \\#escaped \\#\n"
    assert titles(md) == [(3, "Indented"), (1, "Closing # hashes"), (1, ""), (2, "\\#escaped \\#")]


def test_setext_headings() -> None:
    md = "Title\n=====\n\ntext\n\nMulti\nline\n---\n\n---\n\npara\n\n    not\n    ---\n"
    secs = split_sections(md)
    assert [(s.level, s.title, s.start) for s in secs] == [(1, "Title", 0), (2, "Multi line", 5)]
    # a --- after a blank line is a thematic break, not a heading
    assert len(secs) == 2


def test_fenced_code_is_ignored() -> None:
    md = (
        "# Real\n"
        "```\n# not a heading\n```\n"
        "~~~~\n# nope\n~~~\n# still inside (short fence does not close)\n~~~~\n"
        "````md\n```\n# inside longer fence\n```\n````\n"
        "# After\n"
    )
    assert titles(md) == [(1, "Real"), (1, "After")]


def test_unclosed_fence_runs_to_end() -> None:
    assert titles("# A\n```\n# B\n") == [(1, "A")]


def test_indented_code_is_ignored() -> None:
    md = "text\n\n    # comment in code\n\n# Real\n"
    assert titles(md) == [(1, "Real")]


def test_block_quotes_and_lists_are_not_top_level() -> None:
    md = "> # quoted\n\n- item\n\n  # inside item\n\n1. one\n   # inside ordered\n\n# Top\n"
    assert titles(md) == [(1, "Top")]


def test_html_blocks_hide_headings() -> None:
    md = "<div>\n# inside div\n</div>\n\n<!--\n\n# in comment\n\n-->\n# After\n"
    assert titles(md) == [(1, "After")]


def test_lazy_paragraph_setext() -> None:
    # "Foo\n    bar\n===" is one paragraph turned into a heading
    assert titles("Foo\n    bar\n===\n") == [(1, "Foo bar")]
