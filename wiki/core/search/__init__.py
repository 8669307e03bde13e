"""Full-text search of pages, talk threads and their history, following git; ranked with search
by meaning. SearchIndex is what the wiki uses; SearchEngine is what an engine implements."""

from .engine import Hit, Results, SearchEngine
from .indexer import SearchIndex

__all__ = ["Hit", "Results", "SearchEngine", "SearchIndex"]
