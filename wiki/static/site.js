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

// Menus (<details class="menu">) open and close without script; with it, an open menu also
// closes on Escape (focus goes back to its button), on a click outside it, and when another
// menu opens.
(function () {
  "use strict";
  function closeMenus(except) {
    var open = document.querySelectorAll("details.menu[open]");
    for (var i = 0; i < open.length; i++) {
      if (!open[i].contains(except)) open[i].open = false;
    }
  }
  document.addEventListener("click", function (e) { closeMenus(e.target); });
  document.addEventListener("keydown", function (e) {
    if (e.key !== "Escape" || e.defaultPrevented) return;
    var menu = document.activeElement && document.activeElement.closest
      ? document.activeElement.closest("details.menu[open]") : null;
    closeMenus(null);
    if (menu) menu.querySelector("summary").focus();
  });
})();
