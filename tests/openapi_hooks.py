"""Schemathesis hooks for tests/test_openapi.py (loaded by `st run` through SCHEMATHESIS_HOOKS).

Names made up at random almost never exist, so nearly every request would end in a 404 before
the code that reads history, renders a page or changes a thread. These hooks mix names and
revisions that exist (TACIT_OPENAPI_KNOWN: JSON of parameter name -> values) into what
schemathesis generates: about half the requests keep the generated value, half get a known one,
and hypothesis still chooses (and shrinks) which.
"""

from __future__ import annotations

import json
import os

import schemathesis
from hypothesis import strategies as st

KNOWN: dict[str, list[str]] = json.loads(os.environ.get("TACIT_OPENAPI_KNOWN", "{}"))


def _with_known(values) -> st.SearchStrategy:
    """The generated values, each one that has known values maybe replaced by one of them.
    Negative cases (not a plain dict: schemathesis wraps them) stay as they are, invalid on purpose."""
    if not values or not isinstance(values, dict):
        return st.just(values)
    return st.fixed_dictionaries({
        key: st.one_of(st.just(value), st.sampled_from(KNOWN[key])) if KNOWN.get(key) else st.just(value)
        for key, value in values.items()
    })


@schemathesis.hook
def before_generate_path_parameters(context, strategy):
    return strategy.flatmap(_with_known)


@schemathesis.hook
def before_generate_query(context, strategy):
    return strategy.flatmap(_with_known)
