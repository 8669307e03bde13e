"""Accounts on the web: login, logout, registration, own account, profiles, API tokens.

Sessions remember "user id:session version"; every request reloads the user,
so a disabled account or a reset password ends its sessions at once. The API
also accepts ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import (Blueprint, abort, current_app, flash, g, redirect, render_template, request,
                   url_for)
from flask_login import LoginManager, UserMixin, login_user, logout_user

from ..core import names
from ..core.users import AccountError, User
from . import get_wiki
from .access import can_read, current_actor, deny_anonymous
from .ratelimit import login_throttle

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Log in to continue."
# Sessions are checked against the account on every request (see LoginUser); flask-login's
# "basic" protection would only mark sessions non-fresh, which nothing here uses.
login_manager.session_protection = None


class LoginUser(UserMixin):
    """The flask-login face of a core User."""

    def __init__(self, user: User) -> None:
        self.user = user

    def get_id(self) -> str:
        return self.user.session_id


@login_manager.user_loader
def _load_user(session_id: str) -> LoginUser | None:
    user = get_wiki().users.from_session(session_id)
    return LoginUser(user) if user else None


@login_manager.request_loader
def _load_from_token(req) -> LoginUser | None:
    header = req.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    user = get_wiki().users.from_token(header[len("Bearer "):].strip())
    if user is None:
        g.bad_token = True
        return None
    g.token_auth = True
    return LoginUser(user)


@login_manager.unauthorized_handler
def _unauthorized():
    deny_anonymous()


def safe_next(target: str | None) -> str:
    """Only a path on this site: no scheme, no host, no '//' or backslash tricks."""
    fallback = request.script_root + "/"
    if not target:
        return fallback
    target = target.strip()
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") \
            or "\\" in target or any(ord(c) < 32 for c in target):
        return fallback
    return target


@bp.route("/-/login", methods=["GET", "POST"])
def login():
    next_url = safe_next(request.values.get("next"))
    if request.method == "GET":
        return render_template("login.html", next=next_url, name="", error=None)
    name = request.form.get("name", "").strip()
    password = request.form.get("password", "")
    throttle = login_throttle()
    wait = throttle.retry_after()
    if wait is not None:
        minutes = (wait + 59) // 60
        response = current_app.make_response((render_template(
            "login.html", next=next_url, name=name,
            error=f"Too many failed logins. Try again in {minutes} minute{'s' if minutes != 1 else ''}."), 429))
        response.headers["Retry-After"] = str(wait)
        return response
    user = get_wiki().users.authenticate(name, password) if name and password else None
    if user is None:
        throttle.failed()
        # The same answer whether the account exists or not.
        return render_template("login.html", next=next_url, name=name,
                               error="Wrong name or password."), 401
    if user.status == "pending":
        return render_template("login.html", next=next_url, name=name,
                               error="Your account is waiting for an admin's approval."), 403
    if user.status == "disabled":
        return render_template("login.html", next=next_url, name=name,
                               error="This account is disabled."), 403
    login_user(LoginUser(user), remember=bool(request.form.get("remember")))
    flash(f"Welcome, {user.name}.", "ok")
    return redirect(next_url)


@bp.route("/-/logout", methods=["POST"])
def logout():
    logout_user()
    flash("You are logged out.", "ok")
    return redirect(request.script_root + "/")


@bp.route("/-/register", methods=["GET", "POST"])
def register():
    wiki = get_wiki()
    registration = current_app.config["WIKI_REGISTRATION"]
    first = wiki.users.count() == 0
    if registration == "closed" and not first:
        abort(403, "Registration is closed; ask an admin for an account.")
    if request.method == "GET":
        return render_template("register.html", name="", email="", error=None, first=first,
                               approval=registration == "approval")
    name, email = request.form.get("name", "").strip(), request.form.get("email", "").strip()
    password = request.form.get("password", "")
    if password != request.form.get("password2", ""):
        return render_template("register.html", name=name, email=email, first=first,
                               approval=registration == "approval",
                               error="The two passwords differ."), 400
    status = "pending" if registration == "approval" else "active"
    try:
        user = wiki.users.create(name, email, password, role="editor", status=status)
    except AccountError as e:
        return render_template("register.html", name=name, email=email, first=first,
                               approval=registration == "approval", error=str(e)), 400
    if user.status == "pending":
        flash("Thanks! An admin will approve your account; you can log in then.", "ok")
        return redirect(request.script_root + "/")
    login_user(LoginUser(user))
    flash(f"Welcome, {user.name}." + (" You are the first user, so you are an admin." if user.role == "admin"
                                      else ""), "ok")
    return redirect(request.script_root + "/")


@bp.route("/-/account", methods=["GET", "POST"])
def account():
    actor = current_actor()
    if not actor.authenticated:
        deny_anonymous()
    wiki = get_wiki()
    if request.method == "POST":
        current = request.form.get("current", "")
        new, again = request.form.get("new", ""), request.form.get("new2", "")
        if wiki.users.authenticate(actor.name, current) is None:
            return render_template("account.html", error="The current password is wrong."), 400
        if new != again:
            return render_template("account.html", error="The two new passwords differ."), 400
        try:
            user = wiki.users.set_password(actor.user_id, new)
        except AccountError as e:
            return render_template("account.html", error=str(e)), 400
        login_user(LoginUser(user))  # other sessions end; this one continues
        flash("Your password is changed; other sessions were logged out.", "ok")
        return redirect(url_for("auth.account"))
    return render_template("account.html", error=None)


@bp.route("/-/user/<name>")
def profile(name: str):
    wiki = get_wiki()
    user = wiki.users.by_name(name)
    if user is None or (user.status != "active" and not current_actor().is_admin):
        abort(404, f"There is no user named {name}.")
    edits = []
    head = wiki.pages.head()
    if head:
        for change, files in wiki.repo.changes(head, author=user.email, limit=200):
            pages = [n for n in (names.page_name(f) for _, f in files) if n and can_read(n)]
            if pages:
                edits.append((change, pages))
            if len(edits) >= 50:
                break
    return render_template("profile.html", user=user, edits=edits)


def init_app(app) -> None:
    login_manager.init_app(app)
    app.register_blueprint(bp)
