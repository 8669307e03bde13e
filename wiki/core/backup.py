"""Backups: everything a wiki needs to come back on a fresh machine, in one folder.

    DEST/wiki.bundle     `git bundle` of every ref: pages, talk, attachments, all history
    DEST/database.json   every row of the accounts database (users, groups, rules, tokens, watches)
    DEST/manifest.json   when, which branch and head, row counts

The database is written as JSON rather than as a SQLite file so a backup restores into any
database URL (SQLite or PostgreSQL). Derived data (search index, render cache) is not backed up:
it is rebuilt from the repository.
"""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import DateTime, delete, insert, select
from sqlalchemy.engine import Engine

from .db import metadata
from .gitrepo import GitRepo

SKIPPED_TABLES = {"rate_limits"}  # counters of failed logins: not worth restoring
FORMAT = 1


class BackupError(RuntimeError):
    pass


def backup(repo: GitRepo, engine: Engine, dest: str | Path) -> dict:
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    head = repo.head()
    if head is None:
        raise BackupError("the repository has no commits yet; there is nothing to back up")
    bundle = dest / "wiki.bundle"
    tmp = dest / "wiki.bundle.tmp"
    proc = subprocess.run(["git", f"--git-dir={repo.git_dir}", "bundle", "create", str(tmp), "--all"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise BackupError(f"git bundle failed: {proc.stderr.strip()}")
    tmp.replace(bundle)
    tables, counts = {}, {}
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            if table.name in SKIPPED_TABLES:
                continue
            rows = [{k: _dump(v) for k, v in row._mapping.items()} for row in conn.execute(select(table))]
            tables[table.name] = rows
            counts[table.name] = len(rows)
    _write_json(dest / "database.json", {"format": FORMAT, "tables": tables})
    manifest = {"format": FORMAT, "created": datetime.now(timezone.utc).isoformat(), "branch": repo.branch,
                "head": head, "rows": counts}
    _write_json(dest / "manifest.json", manifest)
    return manifest


def restore(src: str | Path, repo_path: str | Path, engine: Engine, force: bool = False) -> dict:
    """Clone the bundle into a new bare repository and load the database rows."""
    src, repo_path = Path(src), Path(repo_path)
    manifest = json.loads((src / "manifest.json").read_text())
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{src} is not a backup this version can read")
    if repo_path.exists() and any(repo_path.iterdir()):
        if not force:
            raise BackupError(f"{repo_path} is not empty; restore into a fresh place (or --force to replace "
                              "the database rows and keep that repository)")
    else:
        proc = subprocess.run(["git", "clone", "--bare", "--quiet", str(src / "wiki.bundle"), str(repo_path)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise BackupError(f"git clone of the bundle failed: {proc.stderr.strip()}")
        branch = manifest["branch"]
        subprocess.run(["git", f"--git-dir={repo_path}", "symbolic-ref", "HEAD", f"refs/heads/{branch}"],
                       check=True, capture_output=True)
    data = json.loads((src / "database.json").read_text())["tables"]
    with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            if table.name in data:
                conn.execute(delete(table))
        for table in metadata.sorted_tables:
            rows = data.get(table.name) or []
            if not rows:
                continue
            columns = {c.name: c for c in table.columns}
            conn.execute(insert(table), [{k: _load(v, columns[k]) for k, v in row.items() if k in columns}
                                         for row in rows])
    _reset_sequences(engine)
    return manifest


def _dump(value):
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _load(value, column):
    if value is not None and isinstance(column.type, DateTime):
        return datetime.fromisoformat(value)
    return value


def _reset_sequences(engine: Engine) -> None:
    """PostgreSQL keeps id sequences apart from the rows: move them past the restored ids."""
    if engine.dialect.name != "postgresql":
        return
    from sqlalchemy import text
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            if "id" in table.columns and table.columns["id"].autoincrement is not False:
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                                  f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"))


def _write_json(path: Path, data) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False))
    tmp.replace(path)
