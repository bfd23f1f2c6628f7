/* azdiag report: draws the timeline (zoom and pan) and filters the events table.
   All text goes in through textContent: log lines are data, never markup. */
(function () {
  "use strict";
  var source = document.getElementById("azdiag-data");
  if (!source) { return; }
  var data = JSON.parse(source.textContent);
  var SVG = "http://www.w3.org/2000/svg";

  function el(name, attrs, text) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function stamp(ms) {
    if (ms === null || ms === undefined) { return "no time"; }
    return new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, "");
  }

  /* ---------------- timeline ---------------- */
  var tl = data.timeline;
  var box = document.getElementById("timeline");
  var view = tl && tl.start !== null ? { from: tl.start, to: tl.end } : null;
  var LABEL = 150, LANE = 16, STATE = 12, GAP = 10;

  function drawTimeline() {
    if (!box || !view) { return; }
    while (box.firstChild) { box.removeChild(box.firstChild); }
    var width = Math.max(box.clientWidth, 600);
    var plot = width - LABEL - 10;
    var span = view.to - view.from;
    function x(ms) { return LABEL + (ms - view.from) / span * plot; }
    var binWidth = (tl.end - tl.start) / tl.bins;
    var rows = 0;
    tl.instances.forEach(function (inst) { rows += inst.lanes.length + 3; });
    var height = 24 + rows * LANE + tl.instances.length * GAP;
    var svg = el("svg", { width: width, height: height, "class": "tl", "data-from": view.from, "data-to": view.to });
    for (var i = 0; i <= 6; i += 1) {
      var t = view.from + span * i / 6;
      svg.appendChild(el("text", { x: x(t), y: 12, "text-anchor": i === 0 ? "start" : (i === 6 ? "end" : "middle"), "class": "tl-axis" }, stamp(t)));
      svg.appendChild(el("line", { x1: x(t), x2: x(t), y1: 16, y2: height, stroke: "#eee" }));
    }
    var y = 24;
    tl.instances.forEach(function (inst) {
      var group = el("g", { "class": "tl-instance", "data-instance": inst.id });
      group.appendChild(el("text", { x: 2, y: y + 11, "class": "tl-lane-label", "font-weight": "bold" }, inst.id));
      inst.states.forEach(function (s) {
        if (s[1] < view.from || s[0] > view.to) { return; }
        var cls = ["Ready", "Busy", "Recycling"].indexOf(s[2]) >= 0 ? s[2] : "other";
        var r = el("rect", { x: Math.max(x(s[0]), LABEL), y: y + 2, width: Math.max(1, x(Math.min(s[1], view.to)) - Math.max(x(s[0]), LABEL)), height: STATE - 2, "class": "tl-state tl-state-" + cls });
        r.appendChild(el("title", {}, s[2] + (s[3] ? " (" + s[3] + ")" : "") + " from " + stamp(s[0])));
        group.appendChild(r);
      });
      inst.findings.forEach(function (f) {
        if (f[0] < view.from || f[0] > view.to) { return; }
        var px = x(f[0]);
        var pin = el("path", { d: "M" + px + " " + (y + 2) + " l-5 -6 h10 z", "class": "tl-finding tl-finding-" + f[1], "data-rule": f[3] });
        pin.appendChild(el("title", {}, f[1] + ": " + f[2] + " (" + stamp(f[0]) + ")"));
        group.appendChild(pin);
      });
      y += LANE;
      inst.lanes.forEach(function (lane) {
        group.appendChild(el("text", { x: 10, y: y + 11, "class": "tl-lane-label" }, lane.name));
        var max = 1;
        lane.bins.forEach(function (b) { if (b[1] > max) { max = b[1]; } });
        lane.bins.forEach(function (b) {
          var t0 = tl.start + b[0] * binWidth;
          if (t0 + binWidth < view.from || t0 > view.to) { return; }
          var h = 2 + Math.log(1 + b[1]) / Math.log(1 + max) * (LANE - 4);
          var r = el("rect", { x: Math.max(x(t0), LABEL), y: y + LANE - 1 - h, width: Math.max(1, x(t0 + binWidth) - Math.max(x(t0), LABEL)), height: h, "class": "tl-bin tl-bin-" + b[2] });
          r.appendChild(el("title", {}, lane.name + ": " + b[1] + " record(s) from " + stamp(t0)));
          group.appendChild(r);
        });
        inst.markers.forEach(function (mk) {
          if (mk[1] !== lane.name || mk[0] < view.from || mk[0] > view.to) { return; }
          var tick = el("line", { x1: x(mk[0]), x2: x(mk[0]), y1: y + 1, y2: y + LANE - 1, "class": "tl-marker" });
          tick.appendChild(el("title", {}, stamp(mk[0]) + " " + (mk[2] || mk[3]) + ": " + mk[4]));
          group.appendChild(tick);
        });
        y += LANE;
      });
      inst.gaps.forEach(function (g) {
        if (g[1] < view.from || g[0] > view.to) { return; }
        var gx = Math.max(x(g[0]), LABEL);
        var r = el("rect", { x: gx, y: y - LANE * (inst.lanes.length + 1), width: Math.max(2, x(Math.min(g[1], view.to)) - gx), height: LANE * (inst.lanes.length + 1), "class": g[3] ? "tl-gap" : "tl-gap tl-gap-unplanned" });
        r.appendChild(el("title", {}, (g[3] ? "planned " : "unexplained ") + g[2] + " silence of " + Math.round(g[4]) + " s from " + stamp(g[0])));
        group.appendChild(r);
        var label = g[2] + " silent " + Math.round(g[4]) + " s";
        var nearEnd = gx > width - 200;
        group.appendChild(el("text", { x: nearEnd ? width - 12 : gx + 2, y: y + 11, "text-anchor": nearEnd ? "end" : "start", "class": "tl-axis tl-gap-label" }, label));
      });
      y += LANE * 2 + GAP;
      svg.appendChild(group);
    });
    box.appendChild(svg);
    var range = document.getElementById("timeline-range");
    if (range) { range.textContent = stamp(view.from) + " → " + stamp(view.to) + " UTC"; }
  }

  var pending = false;
  function redraw() {  /* at most one redraw per frame while dragging or wheeling */
    if (pending) { return; }
    pending = true;
    window.requestAnimationFrame(function () { pending = false; drawTimeline(); });
  }

  function zoom(factor, centre, lazy) {
    if (!view) { return; }
    var span = view.to - view.from;
    var middle = centre === undefined ? view.from + span / 2 : centre;
    var next = Math.max(1000, Math.min(tl.end - tl.start, span * factor));
    view.from = Math.max(tl.start, middle - next / 2);
    view.to = Math.min(tl.end, view.from + next);
    view.from = Math.max(tl.start, view.to - next);
    if (lazy) { redraw(); } else { drawTimeline(); }
  }

  function bind(id, action) {
    var button = document.getElementById(id);
    if (button) { button.addEventListener("click", action); }
  }
  bind("zoom-in", function () { zoom(0.5); });
  bind("zoom-out", function () { zoom(2); });
  bind("zoom-reset", function () { view = { from: tl.start, to: tl.end }; drawTimeline(); });
  if (box && view) {
    box.addEventListener("wheel", function (event) {
      event.preventDefault();
      var rect = box.getBoundingClientRect();
      var plot = rect.width - LABEL - 10;
      var at = view.from + (event.clientX - rect.left - LABEL) / plot * (view.to - view.from);
      zoom(event.deltaY < 0 ? 0.7 : 1.4, at, true);
    }, { passive: false });
    var drag = null;
    box.addEventListener("mousedown", function (event) { drag = { x: event.clientX, from: view.from, to: view.to }; });
    window.addEventListener("mouseup", function () { drag = null; });
    window.addEventListener("mousemove", function (event) {
      if (!drag) { return; }
      var plot = box.clientWidth - LABEL - 10;
      var shift = (drag.x - event.clientX) / plot * (drag.to - drag.from);
      shift = Math.max(tl.start - drag.from, Math.min(tl.end - drag.to, shift));
      view.from = drag.from + shift;
      view.to = drag.to + shift;
      redraw();
    });
    window.addEventListener("resize", drawTimeline);
    drawTimeline();
  }

  /* ---------------- events table ---------------- */
  var events = data.events;
  var body = document.getElementById("events-body");
  var PAGE = 200;
  var shown = PAGE;
  var filters = ["instance", "kind", "level", "event"];
  var COLUMN = { instance: 1, kind: 2, level: 3, event: 4 };

  function fillSelect(name) {
    var select = document.getElementById("filter-" + name);
    if (!select) { return; }
    var seen = {};
    events.rows.forEach(function (row) { if (row[COLUMN[name]]) { seen[row[COLUMN[name]]] = true; } });
    Object.keys(seen).sort().forEach(function (value) {
      var option = document.createElement("option");
      option.value = value;
      option.textContent = value;
      select.appendChild(option);
    });
    select.addEventListener("change", function () { shown = PAGE; renderEvents(); });
  }

  function matching() {
    var wanted = {};
    filters.forEach(function (name) {
      var select = document.getElementById("filter-" + name);
      wanted[name] = select ? select.value : "";
    });
    var textBox = document.getElementById("filter-text");
    var needle = textBox ? textBox.value.toLowerCase() : "";
    return events.rows.filter(function (row) {
      for (var i = 0; i < filters.length; i += 1) {
        var name = filters[i];
        if (wanted[name] && row[COLUMN[name]] !== wanted[name]) { return false; }
      }
      return !needle || row[7].toLowerCase().indexOf(needle) >= 0;
    });
  }

  function cell(row, text, cls) {
    var td = document.createElement("td");
    td.textContent = text;
    if (cls) { td.className = cls; }
    row.appendChild(td);
    return td;
  }

  function renderEvents() {
    if (!body) { return; }
    var rows = matching();
    while (body.firstChild) { body.removeChild(body.firstChild); }
    var fragment = document.createDocumentFragment();
    rows.slice(0, shown).forEach(function (r) {
      var tr = document.createElement("tr");
      tr.className = "lvl-" + r[3];
      cell(tr, stamp(r[0]));
      cell(tr, r[1]);
      cell(tr, r[2]);
      cell(tr, r[3]);
      cell(tr, r[4]);
      var path = events.files[r[5]];
      cell(tr, path.split("/").pop().split("!").pop() + ":" + r[6]).title = path + ":" + r[6];
      cell(tr, r[7]);
      fragment.appendChild(tr);
    });
    if (rows.length > shown) {
      var more = document.createElement("tr");
      var td = document.createElement("td");
      td.colSpan = 7;
      var button = document.createElement("button");
      button.type = "button";
      button.id = "events-more";
      button.textContent = "Show " + Math.min(PAGE, rows.length - shown) + " more";
      button.addEventListener("click", function () { shown += PAGE; renderEvents(); });
      td.appendChild(button);
      more.appendChild(td);
      fragment.appendChild(more);
    }
    body.appendChild(fragment);
    var count = document.getElementById("events-count");
    if (count) {
      count.textContent = rows.length + " of " + events.rows.length + " events match" +
        (rows.length > shown ? " (showing the first " + shown + ")" : "");
    }
  }

  if (body && events) {
    filters.forEach(fillSelect);
    var textBox = document.getElementById("filter-text");
    if (textBox) { textBox.addEventListener("input", function () { shown = PAGE; renderEvents(); }); }
    renderEvents();
  }
}());
