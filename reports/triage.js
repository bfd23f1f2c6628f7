/* azdiag triage index: sort by a column (click its header) and filter rows by text. */
(function () {
  "use strict";
  var table = document.getElementById("triage-table");
  if (!table) { return; }
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var direction = {};
  function value(row, index) { return row.cells[index].getAttribute("data-value") || ""; }
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, index) {
    th.addEventListener("click", function () {
      var numeric = th.getAttribute("data-numeric") === "1";
      direction[index] = !direction[index];
      var sign = direction[index] ? 1 : -1;
      rows.sort(function (a, b) {
        var x = value(a, index), y = value(b, index);
        if (numeric) { return sign * ((parseFloat(x) || 0) - (parseFloat(y) || 0)); }
        return sign * x.localeCompare(y);
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
  var input = document.getElementById("triage-filter");
  var count = document.getElementById("triage-count");
  function filter() {
    var needle = input ? input.value.toLowerCase() : "";
    var shown = 0;
    rows.forEach(function (row) {
      var match = !needle || row.textContent.toLowerCase().indexOf(needle) >= 0;
      row.hidden = !match;
      if (match) { shown += 1; }
    });
    if (count) { count.textContent = shown + " of " + rows.length + " collections shown"; }
  }
  if (input) { input.addEventListener("input", filter); }
  filter();
}());
