// Attachments in the editor: drop or paste files into the text (or pick them with "Attach files")
// to upload them beside the page; the markdown that shows them is inserted at the cursor.
// The upload is a POST to the page's files route with the form's CSRF token; the server
// chooses a free name, so a pasted "image.png" never replaces an earlier one.
(function () {
  "use strict";
  var script = document.currentScript;
  var editor = document.querySelector(".editor");
  if (!script || !editor) return;
  var uploadUrl = script.dataset.uploadUrl;
  var maxBytes = parseInt(script.dataset.maxUpload || "0", 10);
  var form = editor.closest("form");
  var textarea = editor.querySelector("textarea");
  var csrf = form && form.querySelector("input[name=csrf_token]");
  if (!uploadUrl || !textarea) return;

  // "Attach files" and a status line, under the text
  var bar = document.createElement("div");
  bar.className = "attach-bar";
  var input = document.createElement("input");
  input.type = "file";
  input.multiple = true;
  input.className = "attach-input";
  input.id = "attach-input";
  input.hidden = true;
  var label = document.createElement("label");
  label.htmlFor = "attach-input";
  label.className = "button small attach-button";
  label.textContent = "Attach files";
  label.tabIndex = 0;
  label.setAttribute("role", "button");
  var hint = document.createElement("span");
  hint.className = "help attach-hint";
  hint.textContent = "or drop / paste them into the text";
  var status = document.createElement("span");
  status.className = "attach-status";
  status.setAttribute("role", "status");
  status.setAttribute("aria-live", "polite");
  bar.appendChild(input);
  bar.appendChild(label);
  bar.appendChild(hint);
  bar.appendChild(status);
  var pane = editor.querySelector(".pane-write") || textarea.parentNode;
  pane.appendChild(bar);

  label.addEventListener("keydown", function (e) {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); }
  });
  input.addEventListener("change", function () {
    upload(Array.prototype.slice.call(input.files || []));
    input.value = "";
  });

  function hasFiles(e) {
    var types = e.dataTransfer && e.dataTransfer.types;
    return !!types && Array.prototype.indexOf.call(types, "Files") >= 0;
  }
  textarea.addEventListener("dragover", function (e) {
    if (!hasFiles(e)) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = "copy";
    textarea.classList.add("drop-target");
  });
  textarea.addEventListener("dragleave", function () { textarea.classList.remove("drop-target"); });
  textarea.addEventListener("drop", function (e) {
    textarea.classList.remove("drop-target");
    var files = e.dataTransfer ? Array.prototype.slice.call(e.dataTransfer.files || []) : [];
    if (!files.length) return;
    e.preventDefault();
    textarea.focus();
    upload(files);
  });
  textarea.addEventListener("paste", function (e) {
    var files = e.clipboardData ? Array.prototype.slice.call(e.clipboardData.files || []) : [];
    if (!files.length) return;
    e.preventDefault();
    upload(files);
  });

  function say(text, failed) {
    status.textContent = text;
    status.classList.toggle("attach-error", !!failed);
  }

  // A placeholder marks the place while the file travels; it becomes the markdown (or goes away).
  function insertAtCursor(text) {
    var start = textarea.selectionStart, end = textarea.selectionEnd, value = textarea.value;
    var before = value.slice(0, start), after = value.slice(end);
    var lead = before && !/\s$/.test(before) ? " " : "";
    textarea.value = before + lead + text + after;
    var caret = before.length + lead.length + text.length;
    textarea.setSelectionRange(caret, caret);
    changed();
  }
  function replacePlaceholder(placeholder, text) {
    var at = textarea.value.indexOf(placeholder);
    if (at < 0) { if (text) insertAtCursor(text); return; }
    var caret = textarea.selectionStart;
    textarea.value = textarea.value.slice(0, at) + text + textarea.value.slice(at + placeholder.length);
    if (caret > at) caret += text.length - placeholder.length;
    textarea.setSelectionRange(caret, caret);
    changed();
  }
  function changed() {  // the preview and the draft follow the text
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
  }

  var counter = 0;
  function upload(files) {
    files.forEach(function (file) {
      if (maxBytes && file.size > maxBytes) {
        say(file.name + " is too large: files can be at most " + Math.round(maxBytes / 1048576 * 10) / 10 + " MB.", true);
        return;
      }
      counter += 1;
      var placeholder = "![Uploading " + file.name.replace(/[\[\]]/g, "") + " (" + counter + ")…]()";
      insertAtCursor(placeholder);
      say("Uploading " + file.name + "…");
      var body = new FormData();
      body.append("file", file, file.name || "pasted.png");
      body.append("unique", "1");
      if (csrf) body.append("csrf_token", csrf.value);
      fetch(uploadUrl, {
        method: "POST", body: body, credentials: "same-origin",
        headers: { "Accept": "application/json", "X-CSRFToken": csrf ? csrf.value : "" }
      }).then(function (r) {
        return r.json().catch(function () { return { error: "The server answered " + r.status + "." }; })
          .then(function (data) { return { ok: r.ok, status: r.status, data: data }; });
      }).then(function (res) {
        if (!res.ok || !res.data.files || !res.data.files.length) {
          throw new Error(res.status === 413 ? file.name + " is too large." : (res.data.error || res.data.detail || "Upload failed."));
        }
        var saved = res.data.files[0];
        replacePlaceholder(placeholder, saved.markdown);
        say("Uploaded " + saved.name + ".");
      }).catch(function (err) {
        replacePlaceholder(placeholder, "");
        say(err && err.message ? err.message : "Upload failed.", true);
      });
    });
  }
})();
