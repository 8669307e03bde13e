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
