"""Fenced blocks a feature renders itself: a fence whose info word (```dashboard) asks for
something other than code. The feature owns its block; the renderer only looks the word up."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping


@dataclass(frozen=True)
class FencedBlock:
    """``render`` turns the block's text into HTML, which is sanitized like the rest of the page;
    ``attributes`` (tag -> attribute names) are what that HTML needs to keep past the sanitizer."""

    info_word: str
    render: Callable[[str], str]
    attributes: Mapping[str, frozenset[str]] = field(default_factory=dict)


def by_info_word(blocks: Iterable[FencedBlock]) -> dict[str, Callable[[str], str]]:
    """The renderers of ``blocks`` by their info word; two blocks may not claim the same word."""
    found: dict[str, Callable[[str], str]] = {}
    for block in blocks:
        if block.info_word in found:
            raise ValueError(f"two fenced blocks claim the info word {block.info_word!r}")
        found[block.info_word] = block.render
    return found


def attributes_of(blocks: Iterable[FencedBlock]) -> dict[str, set[str]]:
    """Every attribute the blocks' HTML needs, by tag, for the sanitizer."""
    needed: dict[str, set[str]] = {}
    for block in blocks:
        for tag, names in block.attributes.items():
            needed.setdefault(tag, set()).update(names)
    return needed
