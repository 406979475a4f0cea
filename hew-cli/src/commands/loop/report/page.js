(function () {
  "use strict";
  var body = document.body;
  // What a test (or a curious reader) can check: the script ran to its end, nothing
  // failed, nothing was blocked, and the page loaded no resource at all.
  window.addEventListener("error", function (e) {
    body.setAttribute("data-error", String(e.message));
  });
  document.addEventListener("securitypolicyviolation", function (e) {
    body.setAttribute("data-blocked", String(e.blockedURI));
  });
  window.addEventListener("load", function () {
    var n = window.performance ? performance.getEntriesByType("resource").length : 0;
    body.setAttribute("data-resources", String(n));
  });
  var table = document.getElementById("iters");
  if (table) {
    var heads = table.tHead.rows[0].cells;
    var order = [];
    // Numbers as shown: `12,345`, `$0.0123`, and times (`+1h02m`, `4m12s`, `2.5s`) in
    // seconds; `unknown` sorts below every number.
    var key = function (row, i, numeric) {
      var v = row.cells[i].textContent;
      if (!numeric) return v.toLowerCase();
      if (/^\+?(\d+(\.\d+)?[hms])+$/.test(v)) {
        var secs = 0;
        v.replace(/(\d+(?:\.\d+)?)([hms])/g, function (_, n, unit) {
          secs += parseFloat(n) * (unit === "h" ? 3600 : unit === "m" ? 60 : 1);
        });
        return secs;
      }
      var n = parseFloat(v.replace(/[^0-9.\-]/g, ""));
      return isNaN(n) ? -1 : n;
    };
    var sortBy = function (i) {
      var numeric = heads[i].hasAttribute("data-num");
      var dir = order[i] === 1 ? -1 : 1;
      order = [];
      order[i] = dir;
      var tbody = table.tBodies[0];
      var rows = Array.prototype.map.call(tbody.rows, function (r, n) {
        return [key(r, i, numeric), n, r];
      });
      rows.sort(function (a, b) {
        return a[0] < b[0] ? -dir : a[0] > b[0] ? dir : a[1] - b[1];
      });
      var frag = document.createDocumentFragment();
      rows.forEach(function (r) { frag.appendChild(r[2]); });
      tbody.appendChild(frag);
      for (var h = 0; h < heads.length; h++) heads[h].removeAttribute("aria-sort");
      heads[i].setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
    };
    Array.prototype.forEach.call(heads, function (th, i) {
      th.addEventListener("click", function () { sortBy(i); });
    });
  }
  body.setAttribute("data-ready", "1");
})();
