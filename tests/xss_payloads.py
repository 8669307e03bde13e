"""Helpers of the browser XSS test (tests/test_browser_xss.py): the payloads, armed so that their
JavaScript is detectable, and a guard that watches a Playwright browser context.

What counts as an injection, wherever a payload is shown:

- a JavaScript dialog opens (``page.on("dialog")``);
- injected code runs: every payload has ``alert(`` / ``confirm(`` / ``prompt(`` / ``print(`` rewritten
  to ``__hit(<index>,`` (so the payload that ran is known), and the sentinel init script defines
  ``__hit`` and replaces ``alert``, ``confirm``, ``prompt`` and ``print`` with recorders, which also
  catches the payloads that reach those functions through encodings (``&#97;lert``, base64, eval);
- the document holds something that would run script or load a foreign one even if nothing ran yet
  (``audit``: an ``on*`` attribute, a script or frame that is not the wiki's own, a ``javascript:``
  URL, ``srcdoc``, ``<base>``, a ``<meta http-equiv>``, svg/math, a foreign stylesheet or form...);
- a request other than an image goes to another host (``Guard``: the context's network is limited to
  the wiki's own ``127.0.0.1:<port>``; everything else is aborted and recorded).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from tests.conftest import test_data

SINKS = re.compile(r"\b(alert|confirm|prompt|print)(\s*)(\(|`)")


def load_payloads() -> list[str]:
    """The non-empty lines of xss-payloads.txt, in order."""
    text = test_data("xss-payloads.txt").read_text(encoding="utf-8")
    return [line for line in text.split("\n") if line.strip()]


def arm(payload: str, index: int) -> str:
    """The payload with its dialog calls turned into ``__hit(index, ...)`` (``__hit`...` `` for tagged
    templates), so any of its JavaScript that runs says which payload it was."""
    def one(m: re.Match[str]) -> str:
        return f"__hit{m.group(2)}({index}," if m.group(3) == "(" else f"__hit{m.group(2)}`"
    return SINKS.sub(one, payload)


def armed_payloads() -> list[str]:
    return [arm(p, i) for i, p in enumerate(load_payloads())]


def batches(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def one_line(text: str) -> str:
    return " ".join(text.split())


def title_groups(payloads: list[str], limit: int = 200) -> list[str]:
    """Payloads joined (whitespace collapsed, as thread titles are) into strings of at most `limit`
    characters; a longer payload is cut to `limit`."""
    groups: list[str] = []
    current = ""
    for p in payloads:
        p = one_line(p)[:limit]
        if not p:
            continue
        if current and len(current) + 1 + len(p) <= limit:
            current += " " + p
        else:
            if current:
                groups.append(current)
            current = p
    if current:
        groups.append(current)
    return groups


# -- JavaScript run in the browser ---------------------------------------------------------

SENTINEL = r"""
(() => {
  if (Object.prototype.hasOwnProperty.call(window, "__xss")) return;
  const hits = [];
  const record = (kind) => function () {
    let args = [];
    try { args = Array.prototype.slice.call(arguments, 0, 3).map((a) => String(a).slice(0, 120)); } catch (e) {}
    hits.push({kind: kind, args: args, where: String(location.href).slice(0, 200)});
  };
  Object.defineProperty(window, "__xss", {value: hits});
  Object.defineProperty(window, "__hit", {value: record("__hit")});
  for (const name of ["alert", "confirm", "prompt", "print"]) {
    try { Object.defineProperty(window, name, {value: record(name), writable: true, configurable: true}); }
    catch (e) { hits.push({kind: "sentinel", args: ["could not replace " + name]}); }
  }
  const csp = [];
  Object.defineProperty(window, "__csp", {value: csp});
  document.addEventListener("securitypolicyviolation", (e) => {
    csp.push({directive: e.effectiveDirective, blocked: String(e.blockedURI).slice(0, 200), sample: e.sample});
  }, true);
})();
"""

# audit(doc, origin) -> [[kind, detail], ...]: what in a document could run script or pull a
# foreign script, style, frame or font. Works on the live document and on DOMParser documents.
AUDIT = r"""
(root, origin) => {
  const out = [];
  const doc = root.ownerDocument || root;
  const URL_ATTRS = new Set(["href", "src", "action", "formaction", "data", "background", "poster",
    "lowsrc", "dynsrc", "srcset", "ping", "codebase", "cite", "longdesc", "manifest", "icon", "archive",
    "classid", "usemap", "profile", "itemtype", "xlink:href", "to", "from", "values"]);
  const BAD = new Set(["iframe", "frame", "frameset", "object", "embed", "applet", "base", "portal",
    "fencedframe", "style", "svg", "math", "template", "xml", "import", "layer", "ilayer", "bgsound",
    "isindex", "xss", "set", "animate", "handler", "listener", "image"]);
  const XML_OK = new Set(["http://www.w3.org/2005/Atom"]);
  const badScheme = /^(javascript|vbscript|livescript|mocha|jar|feed|data:(?!image\/(png|gif|jpe?g|webp|avif)[;,]))/;
  const norm = (v) => String(v).replace(/[\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200f\u2028\u2029\u205f\u3000\ufeff]+/g, "").toLowerCase();
  const resolve = (v) => { try { return new URL(v, origin + "/"); } catch (e) { return null; } };
  const sameOrigin = (v) => { const u = resolve(v); return !!u && u.origin === origin; };
  // The wiki draws small charts as inline SVG: <svg class="sparkline|status-chart"> holding only
  // shapes and text. Anything else in an svg (or an svg of another class) counts as injected.
  const SVG_SHAPES = new Set(["svg", "rect", "text", "title", "line", "g", "path", "polyline", "circle", "desc"]);
  const siteSvg = (el) => {
    const top = el.closest && el.closest("svg");
    if (!top || !/^(sparkline|status-chart)$/.test(top.getAttribute("class") || "")) return false;
    return Array.from(top.querySelectorAll("*")).concat([top]).every((n) => SVG_SHAPES.has(n.localName));
  };
  const show = (el) => (el.outerHTML || el.nodeName).slice(0, 240);
  const isHTML = doc instanceof HTMLDocument || (doc.contentType || "").includes("html");
  const walk = (root) => {
    for (const el of root.querySelectorAll("*")) {
      const tag = (el.localName || "").toLowerCase();
      const ns = el.namespaceURI;
      if (!isHTML && !XML_OK.has(ns)) out.push(["foreign element in XML", show(el)]);
      if (siteSvg(el)) { /* the wiki's own charts (web/charts.py); attributes are still checked */ }
      else if (BAD.has(tag)) out.push(["element <" + tag + ">", show(el)]);
      else if (isHTML && ns && ns !== "http://www.w3.org/1999/xhtml")
        out.push(["element in namespace " + ns, show(el)]);
      if (tag === "script") {
        const src = el.getAttribute("src");
        const u = src && resolve(src);
        if (!u || u.origin !== origin || !u.pathname.startsWith("/-/static/") || el.textContent.trim())
          out.push(["script", show(el)]);
      }
      if (tag === "meta" && (el.hasAttribute("http-equiv") || (isHTML && el.parentNode !== doc.head)))
        out.push(["meta", show(el)]);
      if (tag === "link" && isHTML && !(el.parentNode === doc.head && sameOrigin(el.getAttribute("href") || "")
          && /^(stylesheet|icon|alternate)$/i.test(el.getAttribute("rel") || "")))
        out.push(["link", show(el)]);
      if (tag === "form" && el.hasAttribute("action") && !sameOrigin(el.getAttribute("action")))
        out.push(["form to another site", show(el)]);
      if (el.shadowRoot) { out.push(["shadow root", show(el)]); walk(el.shadowRoot); }
      for (const attr of Array.from(el.attributes)) {
        const name = attr.name.toLowerCase();
        const local = name.includes(":") ? name.split(":").pop() : name;
        if (local.startsWith("on")) out.push(["handler " + attr.name, show(el)]);
        else if (name === "srcdoc" || name === "formaction" || name === "xmlns:xlink") out.push(["attribute " + name, show(el)]);
        else if ((URL_ATTRS.has(name) || local === "href") && badScheme.test(norm(attr.value)))
          out.push(["script URL in " + name, show(el)]);
        else if (name === "style" && /expression|javascript:|-moz-binding|behavior\s*:|@import|url\s*\(/i.test(attr.value))
          out.push(["style", show(el)]);
      }
    }
  };
  if (!isHTML && doc.getElementsByTagName("parsererror").length) {
    out.push(["not well-formed XML", doc.getElementsByTagName("parsererror")[0].textContent.slice(0, 240)]);
    return out;
  }
  walk(root);
  if (!isHTML && root === doc) {
    for (const node of Array.from(doc.childNodes))
      if (node.nodeType === 7) out.push(["processing instruction", node.target + " " + node.data]);
  }
  return out;
}
"""

# Fetch many responses from inside a logged-in page and audit each as Chromium parses it.
# jobs: [{label, url, method, form: {field: value} | null, csrf: bool, base_from: url of a form whose
# `base` to send, keep: bool, if_previous: run only when the job before answered 200 at a URL without
# this text (parallel = 1)}] -> [{label, status, url, type, findings, text (when kept), skipped}]
BULK = r"""
async ([jobs, origin, parallel]) => {
  const audit = %s;
  let token = null;
  const csrf = async (fresh) => {
    if (token && !fresh) return token;
    const r = await fetch("/-/login", {credentials: "same-origin"});
    const d = new DOMParser().parseFromString(await r.text(), "text/html");
    const input = d.querySelector("input[name=csrf_token]");
    token = input ? input.value : "";
    return token;
  };
  let previous = null;
  const one = async (job) => {
    if (job.if_previous && !(previous && previous.status === 200 && !previous.url.includes(job.if_previous)))
      return {label: job.label, status: -1, url: "", type: "", findings: [], skipped: true, text: ""};
    for (let attempt = 0; attempt < 2; attempt++) {
      const init = {method: job.method || "GET", credentials: "same-origin", redirect: "follow"};
      if (job.form) {
        const body = new URLSearchParams();
        for (const [k, v] of Object.entries(job.form)) body.append(k, v);
        if (job.base_from) {
          const r = await fetch(job.base_from, {credentials: "same-origin"});
          const d = new DOMParser().parseFromString(await r.text(), "text/html");
          const base = d.querySelector("input[name=base]");
          body.append("base", base ? base.value : "");
        }
        if (job.csrf !== false) body.append("csrf_token", await csrf(attempt > 0));
        init.body = body;
      }
      const r = await fetch(job.url, init);
      const text = await r.text();
      if (r.status === 400 && attempt === 0 && text.includes("(CSRF)")) continue;
      const type = (r.headers.get("content-type") || "").split(";")[0];
      let findings = [];
      if (type === "text/html" || type.endsWith("+xml") || type.endsWith("/xml")) {
        const d = new DOMParser().parseFromString(text, type === "text/html" ? "text/html" : "application/xml");
        findings = audit(d, origin);
      }
      return {label: job.label, status: r.status, url: r.url, type: type, findings: findings,
              text: job.keep ? text : ""};
    }
  };
  const results = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++;
      try { results[i] = previous = await one(jobs[i]); }
      catch (e) { results[i] = {label: jobs[i].label, status: 0, url: jobs[i].url, findings: [["fetch failed", String(e)]]}; }
    }
  };
  await Promise.all(Array.from({length: parallel}, worker));
  return results;
}
""" % AUDIT.strip()

# Audit HTML fragments (API answers: rendered pages, comments, search snippets) in a live container,
# the way editor.js shows a preview (innerHTML), then give their event handlers a moment to fire.
FRAGMENTS = r"""
async ([items, origin]) => {
  const audit = %s;
  const box = document.createElement("div");
  document.body.appendChild(box);
  const out = [];
  for (const item of items) {
    const one = document.createElement("div");
    box.appendChild(one);
    one.innerHTML = item.html;
    for (const f of audit(one, origin)) out.push({label: item.label, finding: f});
  }
  await new Promise((r) => setTimeout(r, 300));
  box.remove();
  return out;
}
""" % AUDIT.strip()


# -- the guard ------------------------------------------------------------------------------

@dataclass
class Guard:
    """Watches one browser context: network limited to the wiki, dialogs, hits, audits."""

    origin: str
    violations: list[str] = field(default_factory=list)
    foreign: list[tuple[str, str]] = field(default_factory=list)  # (resource type, url) aborted
    requests: list[tuple[str, str]] = field(default_factory=list)  # (resource type, url) of our origin
    loads: int = 0
    parsed: int = 0

    def __post_init__(self) -> None:
        u = urlsplit(self.origin)
        self.host, self.port = u.hostname, u.port

    def attach(self, context) -> None:
        context.add_init_script(SENTINEL)
        context.route("**/*", self._route)
        context.on("page", self._page)
        for page in context.pages:
            self._page(page)

    def _page(self, page) -> None:
        page.on("dialog", lambda dialog: self._dialog(page, dialog))

    def _dialog(self, page, dialog) -> None:
        self.violations.append(f"dialog {dialog.type} {dialog.message[:100]!r} on {page.url[:200]}")
        try:
            dialog.dismiss()
        except Exception:
            pass

    def _route(self, route) -> None:
        request = route.request
        u = urlsplit(request.url)
        if u.scheme in ("http", "https", "ws", "wss") and u.hostname == self.host and u.port == self.port:
            self.requests.append((request.resource_type, request.url))
            if request.resource_type == "script" and not u.path.startswith("/-/static/"):
                self.violations.append(f"script from the wiki outside /-/static/: {request.url[:200]}")
            route.continue_()
            return
        self.foreign.append((request.resource_type, request.url))
        if request.resource_type != "image":
            self.violations.append(f"{request.resource_type} request to another host: {request.url[:200]}")
        route.abort()

    def hits(self, page) -> list:
        found = []
        for frame in page.frames:
            try:
                found += frame.evaluate("() => window.__xss ? Array.from(window.__xss) : []")
            except Exception:
                pass  # an aborted frame (error page) has nothing to ask
        return found

    def check(self, page, label: str) -> list[str]:
        """Audit the page as it is now; returns (and records) what is wrong."""
        problems = [f"{label}: ran {h}" for h in self.hits(page)]
        try:
            findings = page.evaluate(f"() => ({AUDIT.strip()})(document, {self.origin!r})")
        except Exception as e:
            findings = [["audit failed", str(e)[:200]]]
        problems += [f"{label}: {kind}: {detail}" for kind, detail in findings]
        if page.url.split("#")[0] and not page.url.startswith(self.origin):
            problems.append(f"{label}: navigated away to {page.url[:200]}")
        self.violations += problems
        return problems

    def visit(self, page, url: str, label: str, settle_ms: int = 0):
        """Load a document of the wiki and check it; returns the response."""
        response = page.goto(url if url.startswith("http") else self.origin + url, wait_until="load")
        if settle_ms:
            page.wait_for_timeout(settle_ms)
        self.loads += 1
        self.check(page, label)
        return response

    def bulk(self, page, jobs: list[dict], parallel: int = 3) -> list[dict]:
        """Fetch and audit many responses from inside `page` (which holds the session); a 5xx answer
        counts as a violation too (the payload broke something)."""
        if not page.url.startswith(self.origin + "/"):
            self.visit(page, "/-/login", "start page")
        results = page.evaluate(BULK, [jobs, self.origin, parallel])
        self.parsed += len(results)
        for r in results:
            for kind, detail in r["findings"]:
                self.violations.append(f"{r['label']} ({r['status']} {r['url'][:120]}): {kind}: {detail}")
            if r["status"] >= 500 or r["status"] == 0:  # -1: skipped
                self.violations.append(f"{r['label']}: answered {r['status']} at {r['url'][:160]}")
        self.check(page, "bulk page")
        return results

    def fragments(self, page, items: list[dict]) -> None:
        """Audit sanitized HTML fragments inserted into the live page (like the editor's preview)."""
        for chunk in batches(items, 400):
            for r in page.evaluate(FRAGMENTS, [chunk, self.origin]):
                kind, detail = r["finding"]
                self.violations.append(f"{r['label']}: {kind}: {detail}")
        self.check(page, "fragments page")
