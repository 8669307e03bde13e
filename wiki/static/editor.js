// The editor: live preview, tabs on small screens, and a draft kept in this
// browser so a closed tab or an expired session loses no text.
(function () {
  "use strict";
  var editor = document.querySelector(".editor");
  if (!editor) return;
  var form = editor.closest("form");
  var textarea = editor.querySelector("textarea");
  var preview = editor.querySelector("#preview");
  var nameInput = form.querySelector("input[name=name]");
  var csrf = form.querySelector("input[name=csrf_token]");
  var key = editor.dataset.draftKey;
  var base = editor.dataset.base || "";
  var note = editor.querySelector(".draft-note");

  function draftKey() { return nameInput ? "tacit-draft:new:" + nameInput.value : key; }

  // Tabs (shown on narrow screens only)
  editor.dataset.tab = "write";
  editor.querySelectorAll(".editor-tabs button").forEach(function (tab) {
    tab.addEventListener("click", function () {
      editor.dataset.tab = tab.dataset.tab;
      editor.querySelectorAll(".editor-tabs button").forEach(function (t) {
        t.setAttribute("aria-selected", t === tab ? "true" : "false");
      });
      if (tab.dataset.tab === "preview") refresh();
    });
  });

  // Live preview, debounced; the server renders with the same sanitizer as pages.
  var timer = null, pending = null, last = null;
  function refresh() {
    if (textarea.value === last) return;
    last = textarea.value;
    if (pending) pending.abort();
    pending = new AbortController();
    var body = new FormData();
    body.append("text", textarea.value);
    body.append("name", nameInput ? nameInput.value : key.replace(/^tacit-draft:/, "").replace(/#\d+$/, ""));
    if (csrf) body.append("csrf_token", csrf.value);
    fetch(editor.dataset.previewUrl, { method: "POST", body: body, signal: pending.signal, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) { preview.innerHTML = html; })
      .catch(function (err) { if (err && err.name === "AbortError") return; });
  }
  textarea.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () { refresh(); saveDraft(); }, 300);
  });

  // Drafts
  function saveDraft() {
    try {
      localStorage.setItem(draftKey(), JSON.stringify({ text: textarea.value, base: base, time: Date.now(),
        message: (form.querySelector("input[name=message]") || {}).value || "" }));
    } catch (e) { /* storage full or disabled: nothing to do */ }
  }
  function restoreDraft() {
    var raw = null;
    try { raw = localStorage.getItem(draftKey()); } catch (e) { return; }
    if (!raw) return;
    var draft;
    try { draft = JSON.parse(raw); } catch (e) { return; }
    if (!draft || typeof draft.text !== "string" || draft.text === textarea.value) return;
    textarea.value = draft.text;
    // The draft was written against the revision it was loaded at: save it from there,
    // so the merge keeps whatever others committed since.
    var baseInput = form.querySelector("input[name=base]");
    if (baseInput && draft.base) baseInput.value = draft.base;
    var msg = form.querySelector("input[name=message]");
    if (msg && draft.message && !msg.value) msg.value = draft.message;
    note.hidden = false;
    note.querySelector(".draft-time").textContent = new Date(draft.time).toLocaleString();
  }
  note.querySelector(".discard-draft").addEventListener("click", function () {
    try { localStorage.removeItem(draftKey()); } catch (e) {}
    window.location.reload();
  });
  form.addEventListener("submit", function () {
    // The draft is removed once the save has answered; keep it until then.
    try { sessionStorage.setItem("tacit-submitted", draftKey()); } catch (e) {}
  });
  restoreDraft();
  refresh();
})();

