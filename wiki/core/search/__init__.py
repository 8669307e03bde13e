"""Full-text search: pages (and, later, talk threads) and their history, following git."""

from .engine import Hit, Results, SearchEngine
from .indexer import SearchIndex

__all__ = ["Hit", "Results", "SearchEngine", "SearchIndex"]
