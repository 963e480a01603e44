// promptctl HTML report: filters, search and expandable rows. Reads only the page's own DOM;
// every value it compares was written into the page as escaped text.
(function () {
  "use strict";
  var table = document.getElementById("cases");
  if (!table) { return; }
  var units = Array.prototype.slice.call(table.querySelectorAll("tr.unit"));
  var text = units.map(function (row) {
    var detail = row.nextElementSibling;
    return (row.textContent + "\n" + (detail ? detail.textContent : "")).toLowerCase();
  });
  function byId(id) { return document.getElementById(id); }
  function value(id) { var el = byId(id); return el ? el.value : ""; }
  function apply() {
    var wanted = {};
    Array.prototype.forEach.call(document.querySelectorAll("input.f-status"), function (box) {
      wanted[box.value] = box.checked;
    });
    var prompt = value("f-prompt"), model = value("f-model"), tag = value("f-tag");
    var words = value("f-search").toLowerCase().split(/\s+/).filter(Boolean);
    var shown = 0;
    units.forEach(function (row, i) {
      var d = row.dataset;
      var ok = wanted[d.status] !== false &&
        (!prompt || d.prompt === prompt) && (!model || d.model === model) &&
        (!tag || d.tags.split("\n").indexOf(tag) >= 0) &&
        words.every(function (w) { return text[i].indexOf(w) >= 0; });
      row.hidden = !ok;
      var detail = row.nextElementSibling;
      if (detail) { detail.hidden = !ok || row.getAttribute("aria-expanded") !== "true"; }
      if (ok) { shown += 1; }
    });
    byId("shown").textContent = shown + " of " + units.length + " shown";
  }
  function toggle(row) {
    var open = row.getAttribute("aria-expanded") !== "true";
    row.setAttribute("aria-expanded", open ? "true" : "false");
    row.nextElementSibling.hidden = !open;
    var button = row.querySelector("button.toggle");
    if (button) { button.textContent = open ? "\u25BE" : "\u25B8"; }
  }
  units.forEach(function (row) {
    row.addEventListener("click", function () { toggle(row); });
  });
  Array.prototype.forEach.call(document.querySelectorAll(".filters input, .filters select"), function (el) {
    el.addEventListener("input", apply);
    el.addEventListener("change", apply);
  });
  var all = byId("expand-all");
  if (all) {
    all.addEventListener("click", function () {
      var open = all.getAttribute("aria-pressed") !== "true";
      all.setAttribute("aria-pressed", open ? "true" : "false");
      all.textContent = open ? "Collapse all" : "Expand all";
      units.forEach(function (row) {
        if (!row.hidden && (row.getAttribute("aria-expanded") === "true") !== open) { toggle(row); }
      });
    });
  }
  apply();
})();
