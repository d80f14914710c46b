// Canal e-tendering: tender pages (no inline scripts: CSP script-src 'self').
// (Deadline countdowns are canal.js's data-countdown, corrected by data-server-now.)
// - Officer tender form: add/remove lot and criterion rows (<template> rows), filter the
//   invited-supplier list, show the running total of criterion weights.
(function () {
  "use strict";

  // ---- repeating rows ---------------------------------------------------------------------
  // <tbody data-rows="lots" data-next-index="3">rows...</tbody>
  // <template data-row-template="lots"> a row whose names hold "__index__" </template>
  // <button type="button" data-add-row="lots">; each row has <button data-remove-row>.
  function addRow(name) {
    var body = document.querySelector('[data-rows="' + name + '"]');
    var template = document.querySelector('template[data-row-template="' + name + '"]');
    if (!body || !template) { return; }
    var index = parseInt(body.getAttribute("data-next-index") || "0", 10);
    body.setAttribute("data-next-index", String(index + 1));
    var html = template.innerHTML.replace(/__index__/g, String(index));
    var holder = document.createElement("tbody");
    holder.innerHTML = html.trim();
    var row = holder.firstElementChild;
    body.appendChild(row);
    var first = row.querySelector("input, select, textarea");
    if (first) { first.focus(); }
    renumber(body);
    updateWeights();
  }

  function renumber(body) {
    Array.prototype.forEach.call(body.querySelectorAll("[data-row-number]"), function (cell, i) {
      cell.textContent = String(i + 1);
    });
  }

  function onClick(event) {
    var add = event.target.closest("[data-add-row]");
    if (add) {
      event.preventDefault();
      addRow(add.getAttribute("data-add-row"));
      return;
    }
    var remove = event.target.closest("[data-remove-row]");
    if (remove) {
      event.preventDefault();
      var row = remove.closest("tr");
      var body = row && row.parentElement;
      if (row) { row.remove(); }
      if (body) { renumber(body); }
      updateWeights();
    }
  }

  // ---- criterion weights total ------------------------------------------------------------
  function updateWeights() {
    var out = document.querySelector("[data-weights-total]");
    if (!out) { return; }
    var total = 0;
    Array.prototype.forEach.call(document.querySelectorAll('[data-rows="criteria"] input[name$="-weight"]'), function (input) {
      var v = parseInt(input.value, 10);
      if (!isNaN(v)) { total += v; }
    });
    out.textContent = String(total);
    out.classList.toggle("text-danger", total !== 100 && total !== 0);
  }

  // ---- filter a long <select multiple> by typed text ----------------------------------------
  // <input data-filter-select="invitees"> filters the options of <select id="invitees">.
  function onInput(event) {
    var input = event.target;
    if (input.matches && input.matches('[data-rows="criteria"] input')) { updateWeights(); }
    var target = input.getAttribute && input.getAttribute("data-filter-select");
    if (!target) { return; }
    var select = document.getElementById(target);
    if (!select) { return; }
    var needle = input.value.trim().toLowerCase();
    Array.prototype.forEach.call(select.options, function (option) {
      option.hidden = needle !== "" && !option.selected && option.text.toLowerCase().indexOf(needle) < 0;
    });
  }

  document.addEventListener("click", onClick);
  document.addEventListener("input", onInput);

  function ready(fn) {
    if (document.readyState !== "loading") { fn(); } else { document.addEventListener("DOMContentLoaded", fn); }
  }
  ready(function () {
    Array.prototype.forEach.call(document.querySelectorAll("[data-rows]"), renumber);
    updateWeights();
  });
})();
