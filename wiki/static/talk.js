// "Discuss": select text in a page's article, press the button that appears, and the talk
// page opens with a new-thread form quoting the selection (and the revision it was read at).
// A static file because the site's CSP allows no inline scripts.
(function () {
  "use strict";
  var article = document.querySelector("article.page[data-discuss]");
  var content = article && article.querySelector(".content");
  if (!content || !window.getSelection) return;

  var MAX_QUOTE = 2000;  // core.talk.MAX_QUOTE
  // block elements end a line, as in the server's html_to_text, so both sides compare alike
  var BLOCKS = /^(P|LI|H[1-6]|PRE|BLOCKQUOTE|TR|TD|TH|DT|DD|DIV|SECTION|BR|HR|TABLE|UL|OL|DL|FIGCAPTION|SUMMARY|DETAILS)$/;

  var button = document.createElement("button");
  button.type = "button";
  button.className = "button primary small discuss-button";
  button.textContent = "Discuss";
  button.hidden = true;
  document.body.appendChild(button);

  function textOf(node) {
    var out = [];
    (function walk(n) {
      if (n.nodeType === 3) { out.push(n.nodeValue); return; }
      if (n.nodeType !== 1 && n.nodeType !== 11) return;
      if (n.nodeType === 1 && n.matches(".anchor, .edit-section")) return;
      var block = n.nodeType === 1 && BLOCKS.test(n.tagName);
      if (block) out.push("\n");
      for (var c = n.firstChild; c; c = c.nextSibling) walk(c);
      if (block) out.push("\n");
    })(node);
    return out.join("").replace(/\s+/g, " ").trim();
  }

  function selectedRange() {
    var sel = window.getSelection();
    if (!sel || sel.isCollapsed || !sel.rangeCount) return null;
    var range = sel.getRangeAt(0);
    return content.contains(range.commonAncestorContainer) ? range : null;
  }

  function place() {
    var range = selectedRange();
    var text = range && textOf(range.cloneContents());
    if (!text) { button.hidden = true; return; }
    var rects = range.getClientRects();
    var last = rects.length ? rects[rects.length - 1] : range.getBoundingClientRect();
    button.hidden = false;
    var width = button.offsetWidth;
    var left = Math.min(Math.max(8, last.right - width / 2), document.documentElement.clientWidth - width - 8);
    button.style.left = (left + window.scrollX) + "px";
    button.style.top = (last.bottom + window.scrollY + 8) + "px";
  }

  var pending = 0;
  document.addEventListener("selectionchange", function () {
    clearTimeout(pending);
    pending = setTimeout(place, 150);
  });
  window.addEventListener("resize", function () { if (!button.hidden) place(); });

  // keep the selection when the button is pressed
  button.addEventListener("mousedown", function (e) { e.preventDefault(); });
  button.addEventListener("click", function () {
    var range = selectedRange();
    if (!range) { button.hidden = true; return; }
    var quote = textOf(range.cloneContents());
    if (quote.length > MAX_QUOTE) quote = quote.slice(0, MAX_QUOTE - 1).replace(/\s+\S*$/, "") + "…";
    var url = new URL(article.getAttribute("data-discuss"), window.location.href);
    url.searchParams.set("quote", quote);
    var revision = article.getAttribute("data-revision");
    if (revision) url.searchParams.set("revision", revision);
    url.hash = "new-thread";
    window.location.href = url.toString();
  });
})();
