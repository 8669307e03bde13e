"""Diffs for page history: line hunks with word highlights, unified text, rendered blocks.

Readers of a wiki history want to see *what changed*, not a patch: changed
lines are shown with the changed words highlighted inside them (like
MediaWiki), unchanged stretches are folded with a few lines of context, and a
"rendered" view marks whole added/removed blocks of the page's HTML for people
who don't read markdown. The same line diff also yields a real unified diff for
the API.

Design notes:

* Line endings are not content. ``\\r\\n``, ``\\n`` and a lone ``\\r`` all end a
  line, and a CRLF page against the same text with LF has *no* changed lines;
  ``TextDiff.line_endings_changed`` reports it instead. A missing final newline
  *is* a change (as in ``diff``/``git``), so the last line without a newline
  differs from the same line with one; the word highlights of that pair are all
  "equal".
* The line diff is ``difflib.SequenceMatcher`` (``autojunk=False``) on small
  stretches; long inputs are first cut down by trimming the common prefix and
  suffix and by anchoring on lines that occur once on each side (the
  "patience" idea; failing that, the rarest lines, as in "histogram" diff), so
  a 10,000-line page with a few edits diffs in milliseconds even when it has
  thousands of blank lines. Words within a line go through the same matcher.
  Pairing and word highlighting are bounded too, so rewriting a whole page
  stays well under a second.
* Within a block of k removed and m added lines, lines are paired greedily in
  order by similarity, so an edited line faces its new version and a line
  inserted next to it stays unpaired.
* Word tokens are runs of word characters (marks such as combining accents stay
  with their letter), runs of whitespace, single CJK ideographs/kana (those
  scripts write no spaces, so a "word" would be a whole sentence), and single
  other characters (an emoji with its modifiers/joiners or a flag pair counts as
  one).
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from collections import Counter
from enum import Enum
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from html.parser import HTMLParser

__all__ = [
    "Segment",
    "DiffLine",
    "Hunk",
    "Row",
    "TextDiff",
    "diff_texts",
    "word_diff",
    "rendered_diff",
]

#: Minimum similarity for a removed and an added line to be shown as one edited line.
PAIR_THRESHOLD = 0.4
# Stretches whose size product is below this go straight to SequenceMatcher.
_SMALL_PRODUCT = 250_000
# Pairing cost bounds: candidates looked at per removed line, full ratios per block.
_PAIR_WINDOW = 32
_PAIR_BUDGET = 1_000
# Lines whose length product is below this are compared character by character.
_CHAR_RATIO_PRODUCT = 40_000


# --------------------------------------------------------------------------- data


class SegmentKind(Enum):
    EQUAL = "equal"
    INSERT = "insert"
    DELETE = "delete"


class LineKind(Enum):
    """A diff line's kind; the value is its sign in a unified diff."""

    CONTEXT = " "
    REMOVED = "-"
    ADDED = "+"


@dataclass(frozen=True)
class Segment:
    """A piece of a line: equal, inserted or deleted."""

    kind: SegmentKind
    text: str


@dataclass(frozen=True)
class DiffLine:
    """One line of a hunk.

    ``kind`` is context, removed or added. ``segments`` join to ``text``: for a
    changed line paired with a ``partner`` line they are equal + delete (on a
    removed line) or equal + insert (on an added one); otherwise one segment of
    the whole line (none for an empty line).
    """

    kind: LineKind
    old_no: int | None
    new_no: int | None
    text: str
    segments: tuple[Segment, ...]
    partner: int | None


@dataclass(frozen=True)
class Hunk:
    """A run of changes with context, numbered as in ``@@ -old_start,old_count +new_start,new_count @@``."""

    old_start: int
    old_count: int
    new_start: int
    new_count: int
    lines: tuple[DiffLine, ...]
    skipped_before: int


@dataclass(frozen=True)
class Row:
    """One row of the side-by-side layout (a missing side is None)."""

    left: DiffLine | None
    right: DiffLine | None


@dataclass(frozen=True)
class TextDiff:
    """The diff of two texts, folded into hunks.

    ``changed`` is about lines; a text that differs only in line endings has no
    hunks, ``changed`` False and ``line_endings_changed`` True. When the texts
    are equal there are no hunks and ``skipped_after`` counts all their lines.
    """

    hunks: tuple[Hunk, ...]
    added: int
    removed: int
    skipped_after: int
    old_missing_newline: bool
    new_missing_newline: bool
    line_endings_changed: bool = False
    # Line terminators ("\r\n", "\n", "\r" or "" for a last line without one),
    # kept so that unified() reproduces the file's own endings.
    _old_eol: tuple[str, ...] = field(default=(), repr=False, compare=False)
    _new_eol: tuple[str, ...] = field(default=(), repr=False, compare=False)

    @property
    def changed(self) -> bool:
        """True when some line was added, removed or edited."""
        return bool(self.hunks)

    def unified(self, old_label: str = "a", new_label: str = "b") -> str:
        """A unified diff that ``patch``/``git apply`` can apply to the old text.

        Lines carry their own endings (a CRLF page gives CRLF diff lines, as
        ``git diff`` does), except that a lone "\\r" is written as "\\n" since
        patch tools only split on "\\n". A difference in line endings alone is
        not a change here: it yields "" (see ``line_endings_changed``), and
        context lines keep the *old* file's endings.
        """
        if not self.hunks:
            return ""
        out = [f"--- {old_label}\n", f"+++ {new_label}\n"]
        for hunk in self.hunks:
            out.append(f"@@ -{hunk.old_start},{hunk.old_count} +{hunk.new_start},{hunk.new_count} @@\n")
            for line in hunk.lines:
                if line.kind is LineKind.ADDED:
                    eol = self._eol(self._new_eol, line.new_no)
                else:
                    eol = self._eol(self._old_eol, line.old_no)
                out.append(line.kind.value + line.text)
                if eol:
                    out.append(eol)
                else:
                    out.append("\n\\ No newline at end of file\n")
        return "".join(out)

    @staticmethod
    def _eol(eols: tuple[str, ...], number: int | None) -> str:
        if number is None or number > len(eols):
            return "\n"
        eol = eols[number - 1]
        return "\n" if eol == "\r" else eol

    def side_by_side(self, hunk: Hunk) -> list[Row]:
        """Rows for a two-column view: paired lines face each other, the rest sit on one side."""
        rows: list[Row] = []
        lines = hunk.lines
        k, n = 0, len(lines)
        while k < n:
            if lines[k].kind is LineKind.CONTEXT:
                rows.append(Row(lines[k], lines[k]))
                k += 1
                continue
            end = k
            while end < n and lines[end].kind is not LineKind.CONTEXT:
                end += 1
            dels = [i for i in range(k, end) if lines[i].kind is LineKind.REMOVED]
            adds = [i for i in range(k, end) if lines[i].kind is LineKind.ADDED]
            di = ai = 0
            while di < len(dels) or ai < len(adds):
                if di < len(dels) and lines[dels[di]].partner is None:
                    rows.append(Row(lines[dels[di]], None))
                    di += 1
                elif ai < len(adds) and lines[adds[ai]].partner is None:
                    rows.append(Row(None, lines[adds[ai]]))
                    ai += 1
                elif di < len(dels) and ai < len(adds):
                    rows.append(Row(lines[dels[di]], lines[adds[ai]]))
                    di += 1
                    ai += 1
                else:  # a partner outside this block: cannot happen, but never loop forever
                    rest = dels[di:] if di < len(dels) else adds[ai:]
                    for i in rest:
                        rows.append(Row(lines[i], None) if lines[i].kind is LineKind.REMOVED else Row(None, lines[i]))
                    break
            k = end
        return rows


# --------------------------------------------------------------------------- lines

_EOL_RE = re.compile(r"(\r\n|\r|\n)")


def _split_lines(text: str) -> tuple[list[str], list[str]]:
    """Lines without endings, and each line's ending ("" for an unterminated last line)."""
    if not text:
        return [], []
    parts = _EOL_RE.split(text)
    lines = parts[0::2]
    eols = parts[1::2]
    if lines[-1] == "":  # text ended with a line ending
        lines.pop()
    else:
        eols.append("")
    return lines, eols


def _anchors(a: list[int], alo: int, ahi: int, b: list[int], blo: int, bhi: int) -> list[tuple[int, int]]:
    """Anchor points for a long stretch: the rarest elements, in an order both sides agree on.

    Elements occurring once on each side are anchors (patience diff). Failing
    those, the elements with the lowest count that is the same on both sides
    (as in histogram diff), the k-th occurrence facing the k-th, so that text
    made of repeated words or lines still aligns.
    """
    count_a: dict[int, int] = {}
    for i in range(alo, ahi):
        count_a[a[i]] = count_a.get(a[i], 0) + 1
    count_b: dict[int, int] = {}
    for j in range(blo, bhi):
        if b[j] in count_a:
            count_b[b[j]] = count_b.get(b[j], 0) + 1
    rarest = min((c for x, c in count_b.items() if count_a[x] == c), default=0)
    if not rarest:
        return []
    pos_b: dict[int, list[int]] = {}
    for j in range(blo, bhi):
        x = b[j]
        if count_b.get(x) == rarest and count_a[x] == rarest:
            pos_b.setdefault(x, []).append(j)
    seen: dict[int, int] = {}
    candidates = []
    for i in range(alo, ahi):
        positions = pos_b.get(a[i])
        if positions is not None:
            k = seen.get(a[i], 0)
            seen[a[i]] = k + 1
            candidates.append((i, positions[k]))
    if not candidates:
        return []
    # Longest increasing subsequence of the b positions (patience sorting).
    tails: list[int] = []
    tail_idx: list[int] = []
    prev = [-1] * len(candidates)
    for k, (_, j) in enumerate(candidates):
        p = bisect_left(tails, j)
        if p == len(tails):
            tails.append(j)
            tail_idx.append(k)
        else:
            tails[p] = j
            tail_idx[p] = k
        prev[k] = tail_idx[p - 1] if p else -1
    result = []
    k = tail_idx[-1]
    while k >= 0:
        result.append(candidates[k])
        k = prev[k]
    result.reverse()
    return result


def _matching_blocks(a: list[int], b: list[int]) -> list[tuple[int, int, int]]:
    """Matching blocks (i, j, n) like SequenceMatcher's, fast on long texts with few edits."""
    blocks: list[tuple[int, int, int]] = []
    stack = [(0, len(a), 0, len(b))]
    while stack:
        alo, ahi, blo, bhi = stack.pop()
        i0, j0 = alo, blo
        while alo < ahi and blo < bhi and a[alo] == b[blo]:
            alo += 1
            blo += 1
        if alo > i0:
            blocks.append((i0, j0, alo - i0))
        i1 = ahi
        while ahi > alo and bhi > blo and a[ahi - 1] == b[bhi - 1]:
            ahi -= 1
            bhi -= 1
        if ahi < i1:
            blocks.append((ahi, bhi, i1 - ahi))
        if alo == ahi or blo == bhi:
            continue
        anchors: list[tuple[int, int]] = []
        if (ahi - alo) * (bhi - blo) > _SMALL_PRODUCT:
            anchors = _anchors(a, alo, ahi, b, blo, bhi)
        if not anchors:
            # Big stretches without usable anchors are rare (nothing in common,
            # or only very common lines); autojunk keeps them fast.
            big = (ahi - alo) * (bhi - blo) > _SMALL_PRODUCT
            matcher = SequenceMatcher(None, a[alo:ahi], b[blo:bhi], autojunk=big)
            blocks.extend((alo + i, blo + j, n) for i, j, n in matcher.get_matching_blocks() if n)
            continue
        pa, pb = alo, blo
        for i, j in anchors:
            stack.append((pa, i, pb, j))
            blocks.append((i, j, 1))
            pa, pb = i + 1, j + 1
        stack.append((pa, ahi, pb, bhi))
    blocks.sort()
    merged: list[tuple[int, int, int]] = []
    for i, j, n in blocks:
        if merged and merged[-1][0] + merged[-1][2] == i and merged[-1][1] + merged[-1][2] == j:
            mi, mj, mn = merged[-1]
            merged[-1] = (mi, mj, mn + n)
        else:
            merged.append((i, j, n))
    return merged


def _opcodes(blocks: list[tuple[int, int, int]], la: int, lb: int) -> list[tuple[str, int, int, int, int]]:
    ops: list[tuple[str, int, int, int, int]] = []
    i = j = 0
    for ai, bj, n in [*blocks, (la, lb, 0)]:
        if i < ai and j < bj:
            ops.append(("replace", i, ai, j, bj))
        elif i < ai:
            ops.append(("delete", i, ai, j, bj))
        elif j < bj:
            ops.append(("insert", i, ai, j, bj))
        if n:
            ops.append(("equal", ai, ai + n, bj, bj + n))
        i, j = ai + n, bj + n
    return ops


def _group(ops: list[tuple[str, int, int, int, int]], context: int) -> list[list[tuple[str, int, int, int, int]]]:
    """Split opcodes into hunks with ``context`` equal lines around changes (all in one if < 0)."""
    if not any(op[0] != "equal" for op in ops):
        return []
    if context < 0:
        return [ops]
    groups: list[list[tuple[str, int, int, int, int]]] = []
    current: list[tuple[str, int, int, int, int]] = []
    for tag, i1, i2, j1, j2 in ops:
        if tag != "equal":
            current.append((tag, i1, i2, j1, j2))
            continue
        if not current:  # leading equal run: keep its last `context` lines
            n = min(context, i2 - i1)
            if n:
                current.append((tag, i2 - n, i2, j2 - n, j2))
            continue
        if i2 - i1 > 2 * context:
            if context:
                current.append((tag, i1, i1 + context, j1, j1 + context))
            groups.append(current)
            current = [(tag, i2 - context, i2, j2 - context, j2)] if context else []
        else:
            current.append((tag, i1, i2, j1, j2))
    if current and any(op[0] != "equal" for op in current):
        tag, i1, i2, j1, j2 = current[-1]
        if tag == "equal":
            n = min(context, i2 - i1)
            if n:
                current[-1] = (tag, i1, i1 + n, j1, j1 + n)
            else:
                current.pop()
        groups.append(current)
    return groups


# --------------------------------------------------------------------------- pairing


def _similarity(a: str, b: str) -> float:
    """How alike two lines are (0..1).

    Short lines (up to about 200 characters): ``SequenceMatcher.ratio()`` on
    characters. Longer lines (whole markdown paragraphs): the share of characters in words the two have in
    common, ignoring order, which is linear and good enough to decide pairing.
    """
    if a == b:
        return 1.0
    if len(a) * len(b) <= _CHAR_RATIO_PRODUCT:
        return SequenceMatcher(None, a, b, autojunk=False).ratio()
    common = Counter(_tokens(a)) & Counter(_tokens(b))
    return 2.0 * sum(len(t) * n for t, n in common.items()) / (len(a) + len(b))


def _pair_lines(old: list[str], new: list[str]) -> list[tuple[int, int]]:
    """Greedy in-order pairing of removed with added lines by similarity (>= PAIR_THRESHOLD)."""
    pairs: list[tuple[int, int]] = []
    if not old or not new:
        return pairs
    counters: dict[int, Counter[str]] = {}
    budget = _PAIR_BUDGET
    start = 0
    for i, a in enumerate(old):
        if start >= len(new) or budget <= 0:
            break
        ca = Counter(a)
        best, best_ratio = -1, PAIR_THRESHOLD
        for j in range(start, min(len(new), start + _PAIR_WINDOW)):
            b = new[j]
            need = best_ratio
            total = len(a) + len(b)
            if total == 0:
                ratio = 1.0
            else:
                if 2.0 * min(len(a), len(b)) / total < need:  # real_quick_ratio
                    continue
                cb = counters.get(j)
                if cb is None:
                    cb = counters[j] = Counter(b)
                if 2.0 * sum((ca & cb).values()) / total < need:  # quick_ratio
                    continue
                budget -= 1
                ratio = _similarity(a, b)
            if ratio > best_ratio or (best < 0 and ratio >= best_ratio):
                best, best_ratio = j, ratio
                if ratio >= 1.0:
                    break
        if best >= 0:
            pairs.append((i, best))
            start = best + 1
    return pairs


# --------------------------------------------------------------------------- words

_ZWJ = "\u200d"
_JOINERS = "\u200c\u200d"  # zero-width (non-)joiner, used inside words by Indic scripts
_CJK_RE = re.compile(
    "[\u2e80-\u2fdf\u3005-\u3007\u3021-\u3029\u3031-\u3035\u3038-\u303c\u3040-\u30ff"
    "\u3100-\u312f\u31a0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f"
    "\U00020000-\U0003ffff]"
)


def _is_cjk(ch: str) -> bool:
    return _CJK_RE.match(ch) is not None


def _is_extender(ch: str) -> bool:
    """Characters that belong to the character before them (marks, emoji modifiers, tags)."""
    o = ord(ch)
    return (
        unicodedata.category(ch)[0] == "M"  # combining marks, variation selectors
        or 0x1F3FB <= o <= 0x1F3FF  # emoji skin tones
        or 0xE0020 <= o <= 0xE007F  # emoji tag sequences (subdivision flags)
    )


def _is_word(ch: str) -> bool:
    return (ch.isalnum() or ch == "_") and not _is_cjk(ch)


def _is_regional(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF


def _tokens(s: str) -> list[str]:
    """Split a line into word runs, whitespace runs and single (clustered) other characters."""
    out: list[str] = []
    i, n = 0, len(s)
    while i < n:
        ch = s[i]
        j = i + 1
        if ch.isspace():
            while j < n and s[j].isspace():
                j += 1
        elif _is_word(ch):
            while j < n and (
                _is_word(s[j])
                or _is_extender(s[j])
                or (s[j] in _JOINERS and j + 1 < n and (_is_word(s[j + 1]) or _is_extender(s[j + 1])))
            ):
                j += 1
        else:
            if _is_regional(ch) and j < n and _is_regional(s[j]):
                j += 1
            while j < n:
                c = s[j]
                if _is_extender(c):
                    j += 1
                elif c == _ZWJ:
                    j += 1
                    if j < n and not s[j].isspace():
                        j += 1
                else:
                    break
        out.append(s[i:j])
        i = j
    return out


def _token_opcodes(ta: list[str], tb: list[str]) -> list[tuple[str, int, int, int, int]]:
    """Opcodes over tokens, by the same matcher as lines (SequenceMatcher on short stretches)."""
    ids: dict[str, int] = {}
    a = [ids.setdefault(t, len(ids)) for t in ta]
    b = [ids.setdefault(t, len(ids)) for t in tb]
    return _opcodes(_matching_blocks(a, b), len(a), len(b))


def _segments(pieces: list[tuple[SegmentKind, str]]) -> tuple[Segment, ...]:
    out: list[Segment] = []
    for kind, text in pieces:
        if not text:
            continue
        if out and out[-1].kind is kind:
            out[-1] = Segment(kind, out[-1].text + text)
        else:
            out.append(Segment(kind, text))
    return tuple(out)


def word_diff(old_line: str, new_line: str) -> tuple[tuple[Segment, ...], tuple[Segment, ...]]:
    """Word-level pieces of two versions of a line: (equal/delete for old, equal/insert for new).

    Whitespace left equal between two changes joins them, so a rewritten phrase
    is highlighted as one stretch rather than word-by-word confetti.
    """
    ta, tb = _tokens(old_line), _tokens(new_line)
    ops = _token_opcodes(ta, tb)
    # Absorb whitespace-only equal runs that sit between two changes.
    regions: list[list] = []  # [changed?, i1, i2, j1, j2]
    for idx, (tag, i1, i2, j1, j2) in enumerate(ops):
        changed = tag != "equal"
        if (
            not changed
            and 0 < idx < len(ops) - 1
            and ops[idx - 1][0] != "equal"
            and ops[idx + 1][0] != "equal"
            and all(t.isspace() for t in ta[i1:i2])
        ):
            changed = True
        if regions and regions[-1][0] == changed:
            regions[-1][2], regions[-1][4] = i2, j2
        else:
            regions.append([changed, i1, i2, j1, j2])
    old_pieces: list[tuple[SegmentKind, str]] = []
    new_pieces: list[tuple[SegmentKind, str]] = []
    for changed, i1, i2, j1, j2 in regions:
        old_text, new_text = "".join(ta[i1:i2]), "".join(tb[j1:j2])
        if changed:
            old_pieces.append((SegmentKind.DELETE, old_text))
            new_pieces.append((SegmentKind.INSERT, new_text))
        else:
            old_pieces.append((SegmentKind.EQUAL, old_text))
            new_pieces.append((SegmentKind.EQUAL, new_text))
    return _segments(old_pieces), _segments(new_pieces)


# --------------------------------------------------------------------------- text diff


def _whole(kind: SegmentKind, text: str) -> tuple[Segment, ...]:
    return (Segment(kind, text),) if text else ()


def diff_texts(old: str, new: str, context: int = 3) -> TextDiff:
    """Diff two texts line by line, folding unchanged stretches beyond ``context`` lines.

    ``context < 0`` shows the whole file in one hunk. Line endings are not
    compared (see the module notes); a missing final newline is.
    """
    old_lines, old_eol = _split_lines(old)
    new_lines, new_eol = _split_lines(new)
    old_missing = bool(old_eol) and old_eol[-1] == ""
    new_missing = bool(new_eol) and new_eol[-1] == ""

    # Intern lines as ints; an unterminated last line is a different line.
    ids: dict[object, int] = {}
    a = [ids.setdefault(t, len(ids)) for t in old_lines]
    b = [ids.setdefault(t, len(ids)) for t in new_lines]
    if old_missing:
        a[-1] = ids.setdefault((old_lines[-1],), len(ids))
    if new_missing:
        b[-1] = ids.setdefault((new_lines[-1],), len(ids))

    blocks = _matching_blocks(a, b) if a != b else ([(0, 0, len(a))] if a else [])
    ops = _opcodes(blocks, len(a), len(b))

    endings_changed = False
    if old != new:
        for i, j, n in blocks:
            if any(old_eol[i + k] != new_eol[j + k] for k in range(n)):
                endings_changed = True
                break
        if not endings_changed:
            styles_old = {e for e in old_eol if e}
            styles_new = {e for e in new_eol if e}
            endings_changed = bool(styles_old and styles_new and styles_old != styles_new)

    added = sum(j2 - j1 for tag, _, _, j1, j2 in ops if tag != "equal")
    removed = sum(i2 - i1 for tag, i1, i2, _, _ in ops if tag != "equal")

    hunks: list[Hunk] = []
    prev_end = 0
    for group in _group(ops, context):
        lines: list[DiffLine] = []
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                for k in range(i2 - i1):
                    text = old_lines[i1 + k]
                    lines.append(DiffLine(LineKind.CONTEXT, i1 + k + 1, j1 + k + 1, text, _whole(SegmentKind.EQUAL, text), None))
                continue
            removed_texts, added_texts = old_lines[i1:i2], new_lines[j1:j2]
            pairs = dict(_pair_lines(removed_texts, added_texts)) if tag == "replace" else {}
            partner_of_new = {j: i for i, j in pairs.items()}
            base_del = len(lines)
            base_add = base_del + len(removed_texts)
            new_segments: dict[int, tuple[Segment, ...]] = {}
            for k, text in enumerate(removed_texts):
                if k in pairs:
                    old_seg, new_seg = word_diff(text, added_texts[pairs[k]])
                    new_segments[pairs[k]] = new_seg
                    lines.append(DiffLine(LineKind.REMOVED, i1 + k + 1, None, text, old_seg, base_add + pairs[k]))
                else:
                    lines.append(DiffLine(LineKind.REMOVED, i1 + k + 1, None, text, _whole(SegmentKind.DELETE, text), None))
            for k, text in enumerate(added_texts):
                if k in partner_of_new:
                    lines.append(DiffLine(LineKind.ADDED, None, j1 + k + 1, text, new_segments[k], base_del + partner_of_new[k]))
                else:
                    lines.append(DiffLine(LineKind.ADDED, None, j1 + k + 1, text, _whole(SegmentKind.INSERT, text), None))
        first, last = group[0], group[-1]
        oi1, oi2, nj1, nj2 = first[1], last[2], first[3], last[4]
        ocount, ncount = oi2 - oi1, nj2 - nj1
        hunks.append(
            Hunk(
                old_start=oi1 + 1 if ocount else oi1,
                old_count=ocount,
                new_start=nj1 + 1 if ncount else nj1,
                new_count=ncount,
                lines=tuple(lines),
                skipped_before=oi1 - prev_end,
            )
        )
        prev_end = oi2
    return TextDiff(
        hunks=tuple(hunks),
        added=added,
        removed=removed,
        skipped_after=len(old_lines) - prev_end,
        old_missing_newline=old_missing,
        new_missing_newline=new_missing,
        line_endings_changed=endings_changed,
        _old_eol=tuple(old_eol),
        _new_eol=tuple(new_eol),
    )


# --------------------------------------------------------------------------- rendered

_VOID = frozenset(
    "area base br col embed hr img input keygen link meta param source track wbr".split()
)
_BLOCK_TAGS = frozenset(
    """address article aside blockquote caption center col colgroup dd details dialog dir div dl dt
    fieldset figcaption figure footer form h1 h2 h3 h4 h5 h6 header hgroup hr li main menu nav ol p
    pre section summary table tbody td tfoot th thead tr ul""".split()
)


class _EventRecorder(HTMLParser):
    """Records where each tag and text run starts, so blocks can be cut from the source verbatim."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=False)
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", source)]
        self.events: list[tuple[int, str, str]] = []  # (offset, kind, tag or text)

    def _pos(self) -> int:
        line, col = self.getpos()
        return self.line_starts[line - 1] + col

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.events.append((self._pos(), "void" if tag in _VOID else "start", tag))

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        self.events.append((self._pos(), "void", tag))

    def handle_endtag(self, tag: str) -> None:
        self.events.append((self._pos(), "end", tag))

    def handle_data(self, data: str) -> None:
        self.events.append((self._pos(), "text", data))

    def handle_entityref(self, name: str) -> None:
        self.events.append((self._pos(), "text", "&"))

    def handle_charref(self, name: str) -> None:
        self.events.append((self._pos(), "text", "&"))

    def handle_comment(self, data: str) -> None:
        self.events.append((self._pos(), "other", ""))

    def handle_decl(self, decl: str) -> None:
        self.events.append((self._pos(), "other", ""))

    def handle_pi(self, data: str) -> None:
        self.events.append((self._pos(), "other", ""))

    def unknown_decl(self, data: str) -> None:
        self.events.append((self._pos(), "other", ""))


def _html_blocks(source: str) -> list[str]:
    """Top-level blocks of an HTML fragment, verbatim: block elements, and runs of inline content."""
    parser = _EventRecorder(source)
    parser.feed(source)
    parser.close()
    events = parser.events
    blocks: list[tuple[int, int]] = []
    stack: list[str] = []
    element_start = 0
    run: list[int] | None = None  # [start, end] of a top-level inline run
    run_open = False  # the current top-level element belongs to the inline run

    def flush() -> None:
        nonlocal run
        if run is not None:
            blocks.append((run[0], run[1]))
            run = None

    for k, (pos, kind, value) in enumerate(events):
        end = events[k + 1][0] if k + 1 < len(events) else len(source)
        if kind in ("start", "void"):
            if stack:
                if kind == "start":
                    stack.append(value)
            elif value in _BLOCK_TAGS:
                flush()
                if kind == "void":
                    blocks.append((pos, end))
                else:
                    stack.append(value)
                    element_start, run_open = pos, False
            else:  # inline element at top level joins the inline run
                if run is None:
                    run = [pos, end]
                run[1] = end
                if kind == "start":
                    stack.append(value)
                    run_open = True
        elif kind == "end":
            if value in stack:
                while stack.pop() != value:
                    pass
                if not stack:
                    if run_open and run is not None:
                        run[1] = end
                        run_open = False
                    else:
                        blocks.append((element_start, end))
            elif not stack and run is not None:
                run[1] = end  # a stray end tag inside an inline run
        elif kind == "text" and not stack:
            stripped = source[pos:end]
            if stripped.strip():
                lead = len(stripped) - len(stripped.lstrip())
                if run is None:
                    run = [pos + lead, pos + lead]
                run[1] = pos + len(stripped.rstrip())
    if stack:  # unclosed element: it runs to the end
        if run_open and run is not None:
            run[1] = len(source)
        else:
            blocks.append((element_start, len(source)))
    flush()
    blocks.sort()
    return [source[s:e].strip() for s, e in blocks if source[s:e].strip()]


_PRE_RE = re.compile(r"(<(pre|textarea)\b.*?</\2\s*>)", re.IGNORECASE | re.DOTALL)
_WS_RE = re.compile(r"\s+")


def _block_key(block: str) -> str:
    """A block's HTML with whitespace normalized, except inside <pre> where it is content."""
    parts = _PRE_RE.split(block)
    out = []
    for k in range(0, len(parts), 3):
        out.append(_WS_RE.sub(" ", parts[k]))
        if k + 1 < len(parts):
            out.append(parts[k + 1])
    return "".join(out).strip()


def _wrap(block: str, kind: str) -> str:
    return f'<div class="diff-block diff-{kind}">{block}</div>'


def rendered_diff(old_html: str, new_html: str) -> str:
    """Mark added and removed top-level blocks of two rendered (sanitized) HTML fragments.

    Blocks are copied verbatim and only wrapped in ``<div class="diff-block
    diff-del|diff-ins">``, so the output is as safe as its inputs. Blocks are
    compared with whitespace normalized (except inside ``<pre>``); when no
    block changed, ``new_html`` is returned as is.
    """
    old_blocks, new_blocks = _html_blocks(old_html), _html_blocks(new_html)
    old_keys = [_block_key(b) for b in old_blocks]
    new_keys = [_block_key(b) for b in new_blocks]
    if old_keys == new_keys:
        return new_html
    out: list[str] = []
    matcher = SequenceMatcher(None, old_keys, new_keys, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            out.extend(new_blocks[j1:j2])
        elif tag == "replace" and i2 - i1 == j2 - j1:
            for old_block, new_block in zip(old_blocks[i1:i2], new_blocks[j1:j2]):
                out.append(_wrap(old_block, "del"))
                out.append(_wrap(new_block, "ins"))
        else:
            out.extend(_wrap(b, "del") for b in old_blocks[i1:i2])
            out.extend(_wrap(b, "ins") for b in new_blocks[j1:j2])
    return "\n".join(out)
