// Drop the editor's draft once a save has gone through (the page shows a "saved" message).
(function () {
  try {
    var k = sessionStorage.getItem("tacit-submitted");
    if (k && document.querySelector(".flash-ok, .flash-merged")) {
      localStorage.removeItem(k);
      sessionStorage.removeItem("tacit-submitted");
    }
  } catch (e) { /* storage disabled */ }
})();

// Keyboard shortcuts: `e` edit, `h` history, `/` the search box. An element offers one with
// aria-keyshortcuts (so assistive technology announces it too); nothing happens while one
// types in a field or holds a modifier.
(function () {
  "use strict";
  function typing(el) {
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }
  document.addEventListener("keydown", function (e) {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || e.isComposing) return;
    if (e.key !== "e" && e.key !== "h" && e.key !== "/") return;
    if (typing(e.target) || typing(document.activeElement)) return;
    var targets = document.querySelectorAll('[aria-keyshortcuts="' + e.key + '"]');
    for (var i = 0; i < targets.length; i++) {
      var target = targets[i];
      if (!target.getClientRects().length) continue;  // not shown (a closed menu, hidden)
      e.preventDefault();
      if (typing(target)) {
        target.focus();
        if (target.select) target.select();
      } else {
        target.click();
      }
      return;
    }
  });
})();
