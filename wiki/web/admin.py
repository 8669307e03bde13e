"""Administration: accounts (roles, approval, disabling, password resets), groups and access rules."""

from __future__ import annotations

import secrets

from flask import Blueprint, flash, redirect, render_template, request, url_for

from ..core.access import READ_POLICIES, WRITE_POLICIES
from ..core.names import BadPageName
from ..core.users import ROLES, AccountError
from . import get_wiki
from .access import current_actor, ensure_admin

bp = Blueprint("admin", __name__, url_prefix="/-/admin")


@bp.before_request
def _admins_only() -> None:
    ensure_admin()


@bp.route("/")
def index():
    return redirect(url_for("admin.users"))


def _users_page(status: int = 200, new_password: tuple[str, str] | None = None, error: str | None = None):
    wiki = get_wiki()
    return render_template("admin/users.html", users=wiki.users.list(), roles=ROLES,
                           new_password=new_password, error=error), status


@bp.route("/users")
def users():
    return _users_page()


@bp.route("/users/<int:user_id>", methods=["POST"])
def change_user(user_id: int):
    store = get_wiki().users
    action = request.form.get("action", "")
    user = store.get(user_id)
    if user is None:
        return _users_page(404, error="There is no such user.")
    try:
        if action == "role":
            store.set_role(user_id, request.form.get("role", ""))
            flash(f"{user.name} is now {request.form.get('role')}.", "ok")
        elif action in ("approve", "enable"):
            store.set_status(user_id, "active")
            flash(f"{user.name} can log in now.", "ok")
        elif action == "disable":
            if user_id == current_actor().user_id:
                raise AccountError("You cannot disable your own account.")
            store.set_status(user_id, "disabled")
            flash(f"{user.name} is disabled; their sessions have ended.", "ok")
        elif action == "password":
            password = secrets.token_urlsafe(12)
            store.set_password(user_id, password)
            # shown once, in this response only (never in a flash message, which lives in the cookie)
            return _users_page(new_password=(user.name, password))
        else:
            return _users_page(400, error="Unknown action.")
    except AccountError as e:
        return _users_page(400, error=str(e))
    return redirect(url_for("admin.users"))


def _groups_page(status: int = 200, error: str | None = None):
    wiki = get_wiki()
    return render_template("admin/groups.html", groups=wiki.users.groups(),
                           users=[u.name for u in wiki.users.list()], error=error), status


@bp.route("/groups", methods=["GET", "POST"])
def groups():
    if request.method == "POST":
        try:
            get_wiki().users.create_group(request.form.get("name", ""))
        except AccountError as e:
            return _groups_page(400, str(e))
        flash("Group created.", "ok")
        return redirect(url_for("admin.groups"))
    return _groups_page()


@bp.route("/groups/<name>/delete", methods=["POST"])
def delete_group(name: str):
    try:
        get_wiki().users.delete_group(name)
    except AccountError as e:
        return _groups_page(404, str(e))
    flash(f"Group {name} deleted.", "ok")
    return redirect(url_for("admin.groups"))


@bp.route("/groups/<name>/members", methods=["POST"])
def members(name: str):
    try:
        get_wiki().users.set_membership(name, request.form.get("user", ""),
                                        request.form.get("action") != "remove")
    except AccountError as e:
        return _groups_page(400, str(e))
    return redirect(url_for("admin.groups"))


def _rules_page(status: int = 200, error: str | None = None, form: dict | None = None):
    wiki = get_wiki()
    return render_template("admin/rules.html", rules=wiki.rules.rules(), read_policy=wiki.read_policy,
                           write_policy=wiki.write_policy, read_policies=READ_POLICIES,
                           write_policies=WRITE_POLICIES, groups=sorted(wiki.users.groups()),
                           error=error, form=form or {}), status


@bp.route("/rules", methods=["GET", "POST"])
def rules():
    if request.method == "POST":
        form = {k: request.form.get(k, "") for k in ("path", "read", "write")}
        try:
            get_wiki().rules.set(form["path"], form["read"], form["write"])
        except (AccountError, BadPageName) as e:
            return _rules_page(400, getattr(e, "rule", None) or str(e), form)
        flash(f"Rule for {form['path']} saved.", "ok")
        return redirect(url_for("admin.rules"))
    return _rules_page()


@bp.route("/rules/<int:rule_id>/delete", methods=["POST"])
def delete_rule(rule_id: int):
    try:
        get_wiki().rules.remove(rule_id)
    except AccountError as e:
        return _rules_page(404, str(e))
    flash("Rule removed.", "ok")
    return redirect(url_for("admin.rules"))
