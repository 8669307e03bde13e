"""Page templates: pages under `Templates/` offered when a page is created.

A template is an ordinary page (edited, versioned and discussed like any other). Its
placeholders are filled in when it is used: `{{date}}` (today, YYYY-MM-DD), `{{author}}` (who
creates the page), `{{page}}` (the new page's full name) and `{{title}}` (its last part).
Other `{{...}}` text is left alone, so templates can show placeholders for people to fill.
"""

from __future__ import annotations

import re
from datetime import date

from . import names
from .pages import PageStore

FOLDER = "Templates"
_PLACEHOLDER = re.compile(r"\{\{\s*(date|author|page|title)\s*\}\}")

WEEKLY_STATUS = """---
status: on-track
owner: {{author}}
review_every: 7d
tags: [status]
summary: One line on where things stand.
---
# {{title}}: week of {{date}}

## Done this week

- 

## Next week

- 

## Risks and blockers

- None.

## Decisions needed

- None.
"""

DECISION_RECORD = """---
status: on-track
owner: {{author}}
tags: [decision]
summary: What was decided, in one line.
---
# {{title}}

Date: {{date}} · Decided by: {{author}}

## Context

What is the situation, and what forces are at play?

## Decision

What we decided to do.

## Alternatives considered

- **Option A**: why not.
- **Option B**: why not.

## Consequences

What becomes easier or harder because of this decision.
"""

SHIPPED = {f"{FOLDER}/Weekly status": WEEKLY_STATUS, f"{FOLDER}/Decision record": DECISION_RECORD}


def available(pages: PageStore) -> list[str]:
    """The template pages, by name."""
    prefix = FOLDER + "/"
    return sorted((n for n in pages.listing() if n.startswith(prefix)), key=str.casefold)


def instantiate(text: str, page: str, author: str, today: date | None = None) -> str:
    today = today or date.today()
    values = {"date": today.isoformat(), "author": author, "page": page,
              "title": names.base_name(page) if page else ""}

    def fill(m: re.Match[str]) -> str:
        value = values[m.group(1)]
        return value if value else m.group(0)  # no name yet: keep {{page}} to fill on save

    return _PLACEHOLDER.sub(fill, text)
