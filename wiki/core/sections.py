"""Section editing: find the headings of a markdown page and splice one section.

A *section* starts at a top-level heading (ATX ``#`` .. ``######`` or setext
``===``/``---``) and runs until the next heading of the same or a higher level,
so ``## B`` under ``# A`` is part of section ``A`` and is also a section of its
own. Sections are numbered 1.. in document order; text before the first
heading belongs to no section.

The scanner here is a small line-based approximation of CommonMark block
structure: it skips fenced and indented code, HTML blocks, and the insides of
list items and block quotes, because a ``#`` line in those places is not a
heading a reader sees. The renderer maps rendered headings to these numbers by
text and order (see ``render/syntax.py``), so the two never have to agree perfectly.

Line endings: ``\\r\\n`` is treated as ``\\n`` everywhere; ``replace_section``
keeps every byte outside the replaced section, and writes the new text with the
document's own line ending.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .frontmatter import split as front_matter_split

__all__ = ["Section", "SectionNotFound", "split_sections", "get_section", "replace_section"]


class SectionNotFound(LookupError):
    """The requested section number does not exist in the page."""


@dataclass(frozen=True)
class Section:
    """One editable section: lines ``[start, end)``; ``start`` is the heading line."""

    number: int
    level: int
    title: str
    start: int
    end: int


_FENCE_OPEN = re.compile(r"^( {0,3})(`{3,}|~{3,})(.*)$")
_ATX = re.compile(r"^ {0,3}(#{1,6})(?=[ \t]|$)(.*)$")
_ATX_CLOSE = re.compile(r"(?:^|[ \t]+)#+[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_THEMATIC = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_BULLET = re.compile(r"^( {0,3})([-+*])([ \t]+|$)(.*)$")
_ORDERED = re.compile(r"^( {0,3})(\d{1,9})([.)])([ \t]+|$)(.*)$")
_QUOTE = re.compile(r"^ {0,3}>")
_TABLE_DELIM = re.compile(r"^ {0,3}\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$")

_HTML_BLOCK_TAGS = frozenset(
    """address article aside base basefont blockquote body caption center col colgroup
    dd details dialog dir div dl dt fieldset figcaption figure footer form frame frameset
    h1 h2 h3 h4 h5 h6 head header hr html iframe legend li link main menu menuitem nav
    noframes ol optgroup option p param search section summary table tbody td tfoot th
    thead title tr track ul""".split()
)
_HTML_RAW_TAGS = ("script", "pre", "style", "textarea")
_HTML_RAW_OPEN = re.compile(r"^ {0,3}<(script|pre|style|textarea)(?:[\s>]|$)", re.I)
_HTML_TAG6 = re.compile(r"^ {0,3}</?([A-Za-z][A-Za-z0-9-]*)(?:[\s>]|/>|$)")
_HTML_TAG7 = re.compile(
    r"^ {0,3}(?:<[A-Za-z][A-Za-z0-9-]*"
    r"(?:\s+[A-Za-z_:][A-Za-z0-9_.:-]*(?:\s*=\s*(?:[^\s\"'=<>`]+|'[^']*'|\"[^\"]*\"))?)*"
    r"\s*/?>|</[A-Za-z][A-Za-z0-9-]*\s*>)\s*$"
)


def _lines(markdown: str) -> list[str]:
    """Logical lines with \\r\\n treated as \\n; no trailing empty line for a final newline."""
    text = markdown.replace("\r\n", "\n")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _indent(line: str) -> int:
    """Leading whitespace width with tabs to the next multiple of 4."""
    col = 0
    for ch in line:
        if ch == " ":
            col += 1
        elif ch == "\t":
            col += 4 - col % 4
        else:
            break
    return col


def _atx_title(rest: str) -> str:
    rest = rest.strip(" \t")
    return _ATX_CLOSE.sub("", rest).strip(" \t")


def _html_block_end(line: str, para_open: bool) -> str | None:
    """Return the end condition of an HTML block starting at ``line`` (or None)."""
    stripped = line.lstrip(" ")
    if not stripped.startswith("<") or _indent(line) > 3:
        return None
    m = _HTML_RAW_OPEN.match(line)
    if m:
        return "</" + m.group(1).lower() + ">"
    if stripped.startswith("<!--"):
        return "-->"
    if stripped.startswith("<?"):
        return "?>"
    if stripped.startswith("<![CDATA["):
        return "]]>"
    if re.match(r"<![A-Za-z]", stripped):
        return ">"
    m = _HTML_TAG6.match(line)
    if m and m.group(1).lower() in _HTML_BLOCK_TAGS:
        return ""  # ends at a blank line
    if not para_open and _HTML_TAG7.match(line):
        return ""
    return None


def _scan_headings(lines: list[str]) -> list[tuple[int, int, str]]:
    """Find top-level headings as (line index, level, title)."""
    found: list[tuple[int, int, str]] = []
    fence: tuple[str, int] | None = None  # (char, length) of the open fence
    html_end: str | None = None  # end marker of an open HTML block ("" = blank line)
    para_start: int | None = None  # first line of the open paragraph
    item_indent: int | None = None  # content column of the open list item
    in_quote = False
    in_table = False
    prev_blank = True

    for i, raw in enumerate(lines):
        line = raw[:-1] if raw.endswith("\r") else raw
        blank = line.strip(" \t") == ""

        if fence is not None:
            m = _FENCE_OPEN.match(line)
            if m and m.group(2)[0] == fence[0] and len(m.group(2)) >= fence[1] and not m.group(3).strip(" \t"):
                fence = None
            prev_blank = blank
            continue

        if html_end is not None:
            if html_end == "":
                if blank:
                    html_end = None
            elif html_end.lower() in line.lower():
                html_end = None
            prev_blank = blank
            continue

        if blank:
            para_start = None
            in_quote = False
            in_table = False
            prev_blank = True
            continue

        indent = _indent(line)

        # Inside a list item: indented lines belong to it, and so do lazy
        # paragraph continuation lines right after item text.
        if item_indent is not None:
            if indent >= item_indent:
                prev_blank = False
                continue
            if not prev_blank and not _starts_block(line):
                prev_blank = False
                continue
            item_indent = None
            para_start = None

        if in_quote:
            if _QUOTE.match(line) or not _starts_block(line):
                prev_blank = False
                continue
            in_quote = False
            para_start = None

        if in_table:
            if not _starts_block(line):
                prev_blank = False
                continue  # another table row
            in_table = False

        if indent >= 4:
            # indented code, or a lazy continuation of an open paragraph
            prev_blank = False
            continue

        m = _FENCE_OPEN.match(line)
        if m and not (m.group(2)[0] == "`" and "`" in m.group(3)):
            fence = (m.group(2)[0], len(m.group(2)))
            para_start = None
            prev_blank = False
            continue

        m = _ATX.match(line)
        if m:
            found.append((i, len(m.group(1)), _atx_title(m.group(2))))
            para_start = None
            prev_blank = False
            continue

        if para_start == i - 1 and "|" in line and "|" in lines[i - 1] and _TABLE_DELIM.match(line):
            # GFM table: header row + delimiter row; its rows are not paragraph text
            in_table = True
            para_start = None
            prev_blank = False
            continue

        if para_start is not None:
            m = _SETEXT.match(line)
            if m:
                title = " ".join(ln.strip(" \t\r") for ln in lines[para_start:i])
                found.append((para_start, 1 if m.group(1)[0] == "=" else 2, title))
                para_start = None
                prev_blank = False
                continue

        if _THEMATIC.match(line):
            para_start = None
            prev_blank = False
            continue

        if _QUOTE.match(line):
            in_quote = True
            para_start = None
            prev_blank = False
            continue

        item = _list_item_indent(line, para_start is not None)
        if item is not None:
            item_indent = item
            para_start = None
            prev_blank = False
            continue

        end = _html_block_end(line, para_start is not None)
        if end is not None:
            html_end = end
            para_start = None
            if end and end.lower() in line.lower()[line.find("<") + 2:]:
                html_end = None  # opened and closed on the same line
            prev_blank = False
            continue

        if para_start is None:
            para_start = i
        prev_blank = False

    return found


def _list_item_indent(line: str, para_open: bool) -> int | None:
    """Content column of a list item starting at ``line`` or None."""
    m = _BULLET.match(line)
    if m:
        lead, marker, gap, content = m.group(1), m.group(2), m.group(3), m.group(4)
    else:
        m = _ORDERED.match(line)
        if not m:
            return None
        lead, marker, gap, content = m.group(1), m.group(2) + m.group(3), m.group(4), m.group(5)
        if para_open and m.group(2) != "1":
            return None  # only "1." may interrupt a paragraph
    if para_open and not content.strip():
        return None  # an empty item cannot interrupt a paragraph
    width = len(gap.expandtabs(4))
    if not content.strip() or width > 4:
        width = 1
    return len(lead) + len(marker) + width


def _starts_block(line: str) -> bool:
    """Whether a line would start a new block instead of continuing a paragraph."""
    return bool(
        _ATX.match(line)
        or _FENCE_OPEN.match(line)
        or _THEMATIC.match(line)
        or _QUOTE.match(line)
        or _list_item_indent(line, True) is not None
        or _html_block_end(line, True) is not None
    )


def split_sections(markdown: str) -> list[Section]:
    """Number the page's top-level headings so an editor can address one of them."""
    lines = _lines(markdown)
    _, body = front_matter_split(markdown)
    skip = markdown[: len(markdown) - len(body)].count("\n")  # front matter holds no headings
    heads = [h for h in _scan_headings(lines) if h[0] >= skip]
    sections: list[Section] = []
    for idx, (start, level, title) in enumerate(heads):
        end = len(lines)
        for later_start, later_level, _ in heads[idx + 1:]:
            if later_level <= level:
                end = later_start
                break
        sections.append(Section(idx + 1, level, title, start, end))
    return sections


def _find(markdown: str, number: int) -> Section:
    if not isinstance(number, int) or isinstance(number, bool) or number < 1:
        raise SectionNotFound(f"no section {number!r}")
    sections = split_sections(markdown)
    if number > len(sections):
        raise SectionNotFound(f"no section {number!r}; the page has {len(sections)}")
    return sections[number - 1]


def get_section(markdown: str, number: int) -> str:
    """The text of one section (with \\n line endings), for the section editor."""
    section = _find(markdown, number)
    lines = _lines(markdown)
    return "".join(line + "\n" for line in lines[section.start:section.end])


def replace_section(markdown: str, number: int, new_text: str) -> str:
    """Splice ``new_text`` in place of one section, leaving every other byte alone."""
    section = _find(markdown, number)
    # Physical lines with their own endings, so untouched parts stay byte-identical.
    physical = markdown.split("\n")
    keep_ends = [line + "\n" for line in physical[:-1]]
    if physical[-1] != "":
        keep_ends.append(physical[-1])
    newline = "\r\n" if keep_ends and keep_ends[0].endswith("\r\n") else "\n"
    body = new_text.replace("\r\n", "\n")
    if not body.endswith("\n"):
        body += "\n"
    if newline != "\n":
        body = body.replace("\n", newline)
    before = "".join(keep_ends[:section.start])
    after = "".join(keep_ends[section.end:])
    return before + body + after
