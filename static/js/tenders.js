// Canal e-tendering: tender pages (no inline scripts: CSP script-src 'self').
// - Countdown to a tender's deadline, corrected for the visitor's clock skew: the page
//   carries the server time it was rendered at (data-server-now); the server clock alone
//   decides deadlines, this is a display aid.
// - Officer tender form: add/remove lot and criterion rows (<template> rows), filter the
//   invited-supplier list, show the running total of criterion weights.
(function () {
  "use strict";

  var lang = (document.documentElement.getAttribute("lang") || "zh-CN").toLowerCase();
  var zh = lang.indexOf("zh") === 0;

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function formatRemaining(ms) {
    var total = Math.max(0, Math.floor(ms / 1000));
    var days = Math.floor(total / 86400);
    var clock = pad(Math.floor((total % 86400) / 3600)) + ":" + pad(Math.floor((total % 3600) / 60)) + ":" + pad(total % 60);
    if (days > 0) {
      return zh ? days + " 天 " + clock : days + (days === 1 ? " day " : " days ") + clock;
    }
    return clock;
  }

  function startCountdowns() {
    var nodes = Array.prototype.slice.call(document.querySelectorAll("[data-tender-deadline]"));
    var loaded = Date.now();
    var items = nodes.map(function (el) {
      var deadline = Date.parse(el.getAttribute("data-tender-deadline"));
      var serverNow = Date.parse(el.getAttribute("data-server-now"));
      el.setAttribute("role", "timer");
      el.setAttribute("aria-live", "off");
      // skew: how far the visitor's clock is ahead of the server's at page load
      return { el: el, deadline: deadline, skew: isNaN(serverNow) ? 0 : loaded - serverNow };
    }).filter(function (item) { return !isNaN(item.deadline); });
    if (!items.length) { return; }

    function tick() {
      items = items.filter(function (item) {
        var left = item.deadline - (Date.now() - item.skew);
        if (left <= 0) {
          item.el.textContent = item.el.getAttribute("data-over-label") || (zh ? "已截止" : "Deadline passed");
          item.el.classList.add("text-danger");
          return false;
        }
        item.el.textContent = formatRemaining(left);
        item.el.classList.toggle("text-danger", left < 3600 * 1000);
        return true;
      });
      if (!items.length) { window.clearInterval(timer); }
    }
    var timer = window.setInterval(tick, 1000);
    tick();
  }

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
    startCountdowns();
    updateWeights();
  });
})();
