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
