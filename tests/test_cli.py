from wiki.cli import main

from .conftest import git


def test_init_creates_then_leaves_untouched(runner, tmp_path):
    target = tmp_path / "wiki"
    first = runner.invoke(main, ["init", "--repo", str(target)])
    assert first.exit_code == 0, first.output
    assert "Created" in first.output
    head = git(target, "rev-parse", "main")
    assert git(target, "show", "main:Home.md").startswith("# Welcome")
    second = runner.invoke(main, ["init", "--repo", str(target)])
    assert second.exit_code == 0 and "already" in second.output
    assert git(target, "rev-parse", "main") == head


def test_init_refuses_a_folder_that_is_not_a_repository(runner, tmp_path):
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "file.txt").write_text("x")
    result = runner.invoke(main, ["init", "--repo", str(tmp_path / "stuff")])
    assert result.exit_code != 0 and "not a git repository" in result.output


def test_init_uses_wiki_repo_variable(runner, tmp_path, monkeypatch):
    monkeypatch.setenv("WIKI_REPO", str(tmp_path / "env-wiki"))
    assert runner.invoke(main, ["init"]).exit_code == 0
    assert (tmp_path / "env-wiki" / "HEAD").exists()


def test_serve_help_lists_options(runner):
    result = runner.invoke(main, ["serve", "--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--workers", "--dev"):
        assert option in result.output


def test_user_and_token_commands(runner, tmp_path, monkeypatch):
    from wiki.core.users import UserStore
    from wiki.core.wiki import open_database

    monkeypatch.setenv("WIKI_DATA", str(tmp_path / "data"))
    added = runner.invoke(main, ["user", "add", "Ada", "--email", "ada@example.org", "--role", "editor",
                                 "--password-stdin"], input="correct horse\n")
    assert added.exit_code == 0, added.output
    assert "as admin" in added.output  # the first account is an admin
    prompted = runner.invoke(main, ["user", "add", "Bob", "--email", "bob@example.org"],
                             input="battery staple\nbattery staple\n")
    assert prompted.exit_code == 0 and "as editor" in prompted.output
    assert "battery staple" not in prompted.output
    listed = runner.invoke(main, ["user", "list"])
    assert "Ada" in listed.output and "Bob" in listed.output and "editor" in listed.output
    assert runner.invoke(main, ["user", "set-role", "Bob", "reader"]).exit_code == 0
    assert "reader" in runner.invoke(main, ["user", "list"]).output
    bad = runner.invoke(main, ["user", "add", "Eve", "--email", "nope", "--password-stdin"], input="whatever-long\n")
    assert bad.exit_code != 0 and "e-mail" in bad.output
    assert runner.invoke(main, ["user", "set-role", "Nobody", "admin"]).exit_code != 0

    created = runner.invoke(main, ["token", "create", "Bob", "--label", "ci"])
    assert created.exit_code == 0
    secret = created.stdout.strip().splitlines()[-1]
    store = UserStore(open_database(tmp_path / "data"))
    assert store.from_token(secret).name == "Bob"
    listing = runner.invoke(main, ["token", "list", "Bob"]).output
    assert "ci" in listing and "active" in listing and secret not in listing
    token_id = listing.split()[0]
    assert runner.invoke(main, ["token", "revoke", token_id]).exit_code == 0
    assert store.from_token(secret) is None
    assert "revoked" in runner.invoke(main, ["token", "list"]).output
    assert runner.invoke(main, ["token", "revoke", "999"]).exit_code != 0


def test_a_bad_setting_is_one_line_not_a_traceback(tmp_path):
    import subprocess
    import sys

    from .serving import ROOT

    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "WIKI_REPO": str(tmp_path / "repo"),
           "WIKI_DATA": str(tmp_path / "data"), "WIKI_REGISTRATION": "maybe"}
    for command in (["serve", "--port", "1"], ["init"], ["check"], ["user", "list"]):
        done = subprocess.run([sys.executable, "-m", "wiki", *command], env=env, cwd=ROOT, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 1, command
        assert "Error: WIKI_REGISTRATION must be open, approval or closed" in done.stderr, command
        assert "Traceback" not in done.stderr, command
