// Progressive enhancement only: the page works the same without this file.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    // Changing the search mode re-runs the search (without JS: press Search).
    document.querySelectorAll("select.js-autosubmit").forEach(function (select) {
      select.addEventListener("change", function () {
        var form = select.form;
        var input = form && form.querySelector("input[name=q]");
        if (input && input.value.trim()) { form.submit(); }
      });
    });
    // "/" focuses the search box.
    document.addEventListener("keydown", function (event) {
      var box = document.getElementById("q");
      var typing = /^(INPUT|TEXTAREA|SELECT)$/.test((event.target && event.target.tagName) || "");
      if (event.key === "/" && box && !typing) { event.preventDefault(); box.focus(); box.select(); }
    });
  });
})();
