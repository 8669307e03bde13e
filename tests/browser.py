"""Shared fixtures for the tests that drive a real browser (Chromium through Playwright).

The browser is Debian's chromium (installed by `ensure_package` when missing), never one
downloaded by Playwright; axe-core comes from npm into `.cache/axe/` of the repository.
Test modules import the fixtures they use (the browser itself is shared either way):

    from tests.browser import browser, live_wiki  # noqa: F401

- `browser`: one Chromium for the whole run.
- `live_wiki`: one gunicorn server per test module with an admin, an editor and a reader
  (`start_live_wiki(tmp, users=False)` for a server of one's own).
- `screenshot_dir()`: this run's screenshot folder (printed at the end of the run); `snap(page,
  name)` saves a screen at 1280 and 390 px.
- `axe_source()` / `run_axe(page)`: axe-core, injected with `page.add_script_tag(content=...)`
  (the site's CSP forbids inline scripts: the context needs `bypass_csp=True`).
- `layout_problems(page)`: horizontal overflow and overlapping header controls.
"""

from __future__ import annotations

import fcntl
import functools
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.serving import WikiServer
from tests.system import ensure_package

ROOT = Path(__file__).resolve().parents[1]
AXE_CACHE = ROOT / ".cache" / "axe"
SCREENSHOTS = ROOT / "tmp" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
PASSWORD = "correct horse battery"

_screenshot_dir: Path | None = None


def chromium_path() -> str:
    """Debian's chromium, installed when missing (as root)."""
    return ensure_package("/usr/bin/chromium", "chromium")


@functools.cache
def axe_source() -> str:
    """The axe-core script (axe.min.js), installed with npm into .cache/axe/ when missing."""
    script = AXE_CACHE / "node_modules" / "axe-core" / "axe.min.js"
    if not script.exists():
        npm = ensure_package("/usr/bin/npm", "npm")
        AXE_CACHE.mkdir(parents=True, exist_ok=True)
        with open(AXE_CACHE / ".install.lock", "w") as lock:  # two test runs at once install once
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not script.exists():
                done = subprocess.run([npm, "install", "--no-save", "--no-audit", "--no-fund",
                                       "--prefix", str(AXE_CACHE), "axe-core@4"],
                                      capture_output=True, text=True, timeout=300)
                if done.returncode != 0 or not script.exists():
                    pytest.fail("npm could not install axe-core: " + (done.stderr or done.stdout)[-2000:])
    return script.read_text(encoding="utf-8")


def screenshot_dir() -> Path:
    """One folder per test run: tmp/screenshots/<timestamp>/ under the repository."""
    global _screenshot_dir
    if _screenshot_dir is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path, n = SCREENSHOTS / stamp, 1
        while path.exists():
            n += 1
            path = SCREENSHOTS / f"{stamp}-{n}"
        path.mkdir(parents=True)
        _screenshot_dir = path
    return _screenshot_dir


def screenshot_dir_if_used() -> Path | None:
    """The run's screenshot folder if a test created it (for the terminal summary)."""
    return _screenshot_dir


def snap(page, name: str) -> None:
    """Screenshots of the page at desktop (1280 px) and phone (390 px) width:
    `<name>-1280.png` and `<name>-390.png` in screenshot_dir(); the viewport is restored."""
    before = page.viewport_size or DESKTOP
    for size in (DESKTOP, PHONE):
        page.set_viewport_size(size)
        page.screenshot(path=str(screenshot_dir() / f"{name}-{size['width']}.png"), full_page=True)
    page.set_viewport_size(before)


LAYOUT_SCRIPT = """() => {
  const problems = [];
  const doc = document.documentElement, width = window.innerWidth;
  if (doc.scrollWidth > width + 1) {
    const wide = [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > width + 1
        && getComputedStyle(e).position !== 'absolute' && e.getClientRects().length)
      .slice(0, 5).map(e => e.tagName.toLowerCase() + (e.className ? '.' + String(e.className).split(' ').join('.') : ''));
    problems.push(`the page is ${doc.scrollWidth}px wide in a ${width}px window (${wide.join(', ')})`);
  }
  const controls = [...document.querySelectorAll('header.site :is(a, button, summary, input, select)')]
    .filter(e => e.getClientRects().length && getComputedStyle(e).visibility !== 'hidden'
                 && !e.closest('.menu-items'))
    .map(e => ({e, r: e.getBoundingClientRect(),
                name: (e.getAttribute('aria-label') || e.textContent || e.getAttribute('placeholder') || e.tagName).trim()}));
  for (const c of controls) {
    if (c.r.left < -1 || c.r.right > width + 1) problems.push(`header control "${c.name}" is outside the window (${Math.round(c.r.left)}..${Math.round(c.r.right)})`);
  }
  for (let i = 0; i < controls.length; i++) for (let j = i + 1; j < controls.length; j++) {
    const a = controls[i], b = controls[j];
    if (a.e.contains(b.e) || b.e.contains(a.e)) continue;
    const x = Math.min(a.r.right, b.r.right) - Math.max(a.r.left, b.r.left);
    const y = Math.min(a.r.bottom, b.r.bottom) - Math.max(a.r.top, b.r.top);
    if (x > 1 && y > 1) problems.push(`header controls "${a.name}" and "${b.name}" overlap`);
  }
  return problems;
}"""


def layout_problems(page) -> list[str]:
    """What is wrong with the layout at the page's current width: horizontal overflow of the
    document, header controls outside the window or overlapping each other."""
    return page.evaluate(LAYOUT_SCRIPT)


def run_axe(page, serious_only: bool = True) -> list[dict]:
    """Inject axe-core (the page's context needs `bypass_csp=True`) and return the violations
    (only those of impact serious or critical by default), each with its nodes' targets."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=axe_source())
    violations = page.evaluate("""async () => {
      const result = await axe.run(document, {resultTypes: ['violations']});
      return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
        nodes: v.nodes.map(n => ({target: n.target.join(' '), summary: n.failureSummary}))}));
    }""")
    if serious_only:
        violations = [v for v in violations if v["impact"] in ("serious", "critical")]
    return violations


def describe_violations(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        lines.append(f"{v['impact']}: {v['id']}: {v['help']}")
        for n in v["nodes"][:8]:
            lines.append(f"    {n['target']}: {(n['summary'] or '').splitlines()[-1].strip()}")
    return "\n".join(lines)


_shared: dict = {"users": 0, "playwright": None, "browser": None}


@pytest.fixture(scope="session")
def browser():
    """One Chromium for the whole run. Every module importing this fixture gets its own
    session-scoped instance from pytest; they all share the one browser (Playwright's sync API
    cannot run twice at once), which closes when the last of them is torn down."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[test]' brings playwright")
    if _shared["browser"] is None:
        executable = chromium_path()
        playwright = sync_api.sync_playwright().start()
        try:
            _shared["browser"] = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        except BaseException:
            playwright.stop()
            raise
        _shared["playwright"] = playwright
        sync_api.expect.set_options(timeout=10_000)  # a loaded 2-CPU machine is slower than 5 s at times
    _shared["users"] += 1
    try:
        yield _shared["browser"]
    finally:
        _shared["users"] -= 1
        if _shared["users"] == 0:
            try:
                _shared["browser"].close()
            finally:
                _shared["playwright"].stop()
                _shared.update(browser=None, playwright=None)


@dataclass
class LiveWiki:
    """A running wiki for browser tests: `base` URL, the `server`, users' API `tokens`."""

    server: WikiServer
    tokens: dict[str, str] = field(default_factory=dict)
    password: str = PASSWORD
    admin: str = "admin"
    editor: str = "editor"
    reader: str = "reader"

    @property
    def base(self) -> str:
        return self.server.base

    def url(self, path: str = "/") -> str:
        return self.base + path

    def login(self, page, name: str | None = None, password: str | None = None) -> None:
        """Log a Playwright page in through the login form (as the editor by default)."""
        page.goto(self.url("/-/login"))
        page.fill("#name", name or self.editor)
        page.fill("#password", password or self.password)
        with page.expect_navigation():
            page.click("main form button[type=submit]")
        if page.url.rstrip("/").endswith("/-/login"):
            raise AssertionError(f"login as {name or self.editor} failed: {page.inner_text('main')[:300]}")

    def new_page(self, browser, name: str | None = None, viewport: dict | None = None, **options):
        """A page in a fresh browser context (own cookies), logged in as `name` unless it is None."""
        context = browser.new_context(viewport=viewport or DESKTOP, **options)
        context.set_default_timeout(15_000)
        page = context.new_page()
        if name:
            self.login(page, name)
        return page

    def put_page(self, name: str, markdown: str, message: str = "", user: str | None = None) -> dict:
        """Create or overwrite a page through the API (as the editor by default)."""
        token = self.tokens[user or self.editor]
        status, current = self.server.request("GET", f"/-/api/v1/pages/{name}", token=token)
        body = {"markdown": markdown, "message": message}
        if status == 200:
            body["base"] = current["revision"]
        status, answer = self.server.request("PUT", f"/-/api/v1/pages/{name}", body, token=token)
        assert status in (200, 201), (status, answer)
        return answer


def start_live_wiki(tmp: Path, users: bool = True, **settings: str) -> LiveWiki:
    """Start a wiki server (2 workers) in `tmp`; with `users`, add admin, editor and reader.
    The caller stops it with `wiki.server.stop()`."""
    settings.setdefault("WIKI_LOGIN_LIMIT_ADDRESS", "10000 per minute")
    Path(tmp).mkdir(parents=True, exist_ok=True)
    server = WikiServer(tmp, workers=2, **settings)
    wiki = LiveWiki(server)
    if users:
        for name, role in (("admin", "admin"), ("editor", "editor"), ("reader", "reader")):
            wiki.tokens[name] = server.add_user(name, PASSWORD, role=role)
    server.start()
    return wiki


@pytest.fixture(scope="module")
def live_wiki(tmp_path_factory):
    """One gunicorn server per test module, with the accounts admin, editor and reader
    (password `PASSWORD`)."""
    wiki = start_live_wiki(tmp_path_factory.mktemp("live-wiki"))
    try:
        yield wiki
    finally:
        wiki.server.stop()
