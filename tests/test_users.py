"""Accounts, groups, tokens and the access policy, without HTTP."""

import pytest
from sqlalchemy import select

from wiki.core.access import Actor, Policy, RuleStore, parse_principals
from wiki.core.db import users as users_table
from wiki.core.users import AccountError, UserStore
from wiki.core.wiki import open_database


@pytest.fixture
def store(tmp_path) -> UserStore:
    return UserStore(open_database(tmp_path))


def test_first_account_is_an_active_admin(store):
    first = store.create("Ada", "ada@example.org", "correct horse", role="editor", status="pending")
    assert (first.role, first.status) == ("admin", "active")
    second = store.create("Bob", "bob@example.org", "battery staple", status="pending")
    assert (second.role, second.status) == ("editor", "pending")


def test_passwords_are_hashed_with_argon2id(store):
    store.create("Ada", "ada@example.org", "correct horse")
    with store.engine.connect() as conn:
        stored = conn.execute(select(users_table.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$") and "correct horse" not in stored
    assert store.authenticate("ada", "correct horse").name == "Ada"  # names are case-insensitive
    assert store.authenticate("Ada", "wrong password") is None
    assert store.authenticate("Nobody", "correct horse") is None


@pytest.mark.parametrize("name,email,password,message", [
    ("", "a@b.org", "long enough", "user name"),
    ("a/b", "a@b.org", "long enough", "user name"),
    ("Ann", "not-an-email", "long enough", "e-mail"),
    ("Ann", "a@b.org", "short", "at least"),
    ("Ann", "a@b.org", "ann", "at least"),
])
def test_bad_account_input_is_refused(store, name, email, password, message):
    with pytest.raises(AccountError) as err:
        store.create(name, email, password)
    assert message in str(err.value)


def test_duplicate_name_or_email(store):
    store.create("Ada", "ada@example.org", "correct horse")
    with pytest.raises(AccountError):
        store.create("ADA", "other@example.org", "correct horse")
    with pytest.raises(AccountError):
        store.create("Other", "ADA@example.org", "correct horse")


def test_disabling_or_resetting_ends_sessions(store):
    store.create("Ada", "ada@example.org", "correct horse")
    bob = store.create("Bob", "bob@example.org", "battery staple")
    session = bob.session_id
    assert store.from_session(session).name == "Bob"
    store.set_status(bob.id, "disabled")
    assert store.from_session(session) is None
    bob = store.set_status(bob.id, "active")
    assert store.from_session(bob.session_id) is not None
    store.set_password(bob.id, "a brand new one")
    assert store.from_session(bob.session_id) is None
    assert store.authenticate("Bob", "battery staple") is None
    assert store.authenticate("Bob", "a brand new one") is not None
    assert store.from_session("garbage") is None and store.from_session("999:1") is None


def test_the_last_admin_cannot_be_demoted_or_disabled(store):
    ada = store.create("Ada", "ada@example.org", "correct horse")
    with pytest.raises(AccountError):
        store.set_role(ada.id, "editor")
    with pytest.raises(AccountError):
        store.set_status(ada.id, "disabled")
    bob = store.create("Bob", "bob@example.org", "battery staple")
    store.set_role(bob.id, "admin")
    assert store.set_role(ada.id, "editor").role == "editor"


def test_tokens_are_stored_as_hashes_and_can_be_revoked(store):
    ada = store.create("Ada", "ada@example.org", "correct horse")
    token, secret = store.create_token(ada.id, "ci")
    assert secret.startswith("tacit_") and len(secret) > 40
    with store.engine.connect() as conn:
        assert secret not in str(conn.exec_driver_sql("SELECT * FROM api_tokens").fetchall())
    assert store.from_token(secret).name == "Ada"
    assert store.from_token(secret + "x") is None
    store.revoke_token(token.id)
    assert store.from_token(secret) is None
    with pytest.raises(AccountError):
        store.revoke_token(12345)


def test_groups_and_membership(store):
    store.create("Ada", "ada@example.org", "correct horse")
    store.create("Bob", "bob@example.org", "battery staple")
    store.create_group("hr")
    store.set_membership("hr", "bob", True)
    assert store.groups() == {"hr": ["Bob"]}
    assert store.by_name("Bob").groups == {"hr"}
    store.set_membership("hr", "Bob", False)
    assert store.by_name("Bob").groups == frozenset()
    with pytest.raises(AccountError):
        store.create_group("hr")
    with pytest.raises(AccountError):
        store.create_group("no spaces please")


ANON = Actor()
READER = Actor(2, "Rita", "r@x.org", "reader")
EDITOR = Actor(3, "Ed", "e@x.org", "editor")
HR_EDITOR = Actor(4, "Hana", "h@x.org", "editor", frozenset({"hr"}))
ADMIN = Actor(1, "Ada", "a@x.org", "admin")


def test_site_policy_defaults():
    policy = Policy("anonymous", "editor")
    assert policy.can_read(ANON, "Home") and not policy.can_write(ANON, "Home")
    assert not policy.can_write(READER, "Home") and policy.can_write(EDITOR, "Home")
    members_only = Policy("user", "user")
    assert not members_only.can_read(ANON, "Home")
    assert members_only.can_write(READER, "Home")  # WIKI_WRITE=user: every account edits


def test_rules_most_specific_wins_and_admins_always_pass(tmp_path):
    rules = RuleStore(open_database(tmp_path))
    rules.set("HR/", "group:hr", "group:hr")
    rules.set("HR/Handbook", "users", None)  # the handbook is readable by all staff, editable as HR/
    rules.set("Policies/", None, "admins")
    policy = Policy("anonymous", "editor", rules.rules())
    assert not policy.can_read(EDITOR, "HR/Salaries") and policy.can_read(HR_EDITOR, "HR/Salaries")
    assert policy.can_read(EDITOR, "HR/Handbook") and not policy.can_write(EDITOR, "HR/Handbook")
    assert policy.can_write(HR_EDITOR, "HR/Handbook")
    assert not policy.can_read(ANON, "HR/Handbook")
    assert policy.can_read(ANON, "Policies/Travel") and not policy.can_write(EDITOR, "Policies/Travel")
    assert policy.can_read(ADMIN, "HR/Salaries") and policy.can_write(ADMIN, "Policies/Travel")
    assert policy.can_read(ANON, "HRX/not-in-the-folder")
    assert not policy.can_read_everything(EDITOR) and policy.can_read_everything(ADMIN)
    assert policy.readable(EDITOR, ["HR/Salaries", "HR/Handbook", "Home"]) == ["HR/Handbook", "Home"]


def test_rule_input_is_checked(tmp_path):
    rules = RuleStore(open_database(tmp_path))
    with pytest.raises(AccountError):
        rules.set("HR/", "group:", None)
    with pytest.raises(AccountError):
        rules.set("HR/", "", "")
    with pytest.raises(Exception):
        rules.set("../etc/", "users", None)
    assert parse_principals("group:hr, admins") == ("group:hr", "admins")
    rule = rules.set("Team/", "users", None)
    rules.set("Team/", "editors", None)  # replaces
    assert [r.read for r in rules.rules()] == [("editors",)]
    rules.remove(rule.id)
    assert rules.rules() == []


def test_schema_head_constant_matches_the_migrations(tmp_path):
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from wiki.core.db import MIGRATIONS, SCHEMA_HEAD, schema_version

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == SCHEMA_HEAD
    assert schema_version(open_database(tmp_path)) == SCHEMA_HEAD
