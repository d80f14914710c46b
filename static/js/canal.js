// Canal scripts (no inline scripts anywhere: CSP script-src 'self').
// Each area appends its code in a section marked with its name.

// === shell (H5) ===========================================================================
(function () {
  "use strict";

  var lang = (document.documentElement.getAttribute("lang") || "zh-CN").toLowerCase();
  var zh = lang.indexOf("zh") === 0;

  // ---- Live countdown ------------------------------------------------------------------
  // <span data-countdown="2026-12-01T09:00:00+00:00"
  //       data-server-now="2026-11-30T09:00:00+00:00"
  //       data-countdown-over="Closed">...server-rendered fallback...</span>
  // shows the time remaining until the ISO instant, updated every second. The server clock
  // alone decides deadlines: this is a display aid only, and it counts on the server's
  // clock, not the visitor's. data-server-now (on the element or an ancestor) is the server
  // time the page was rendered at (core.clock.now()); the difference to the browser's clock
  // when the countdown starts is the skew that every tick corrects for. Without it the
  // browser's clock is taken as it is.
  // Optional data-countdown-urgent="3600" (seconds) adds .canal-countdown-urgent when less
  // is left; .canal-countdown-over is added once the time is up.
  function formatRemaining(ms) {
    var total = Math.max(0, Math.floor(ms / 1000));
    var days = Math.floor(total / 86400);
    var hours = Math.floor((total % 86400) / 3600);
    var minutes = Math.floor((total % 3600) / 60);
    var seconds = total % 60;
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    var clock = pad(hours) + ":" + pad(minutes) + ":" + pad(seconds);
    if (days > 0) {
      return zh ? days + " 天 " + clock : days + (days === 1 ? " day " : " days ") + clock;
    }
    return clock;
  }

  // How far the browser's clock is ahead of the server's (ms), from data-server-now.
  function clockSkew(el, started) {
    var holder = el.closest("[data-server-now]");
    var serverNow = holder ? Date.parse(holder.getAttribute("data-server-now")) : NaN;
    return isNaN(serverNow) ? 0 : started - serverNow;
  }

  function tick(item) {
    var el = item.el;
    var left = item.target - (Date.now() - item.skew);
    if (left <= 0) {
      el.textContent = el.getAttribute("data-countdown-over") || (zh ? "已截止" : "Time is up");
      el.classList.add("canal-countdown-over");
      el.classList.remove("canal-countdown-urgent");
      return false;
    }
    el.textContent = formatRemaining(left);
    var urgent = parseInt(el.getAttribute("data-countdown-urgent") || "0", 10);
    el.classList.toggle("canal-countdown-urgent", urgent > 0 && left < urgent * 1000);
    return true;
  }

  function startCountdowns(root) {
    var started = Date.now();
    var nodes = Array.prototype.slice.call((root || document).querySelectorAll("[data-countdown]"));
    var live = nodes.map(function (el) {
      if (!el.hasAttribute("aria-live")) { el.setAttribute("aria-live", "off"); }
      el.setAttribute("role", el.getAttribute("role") || "timer");
      return { el: el, target: Date.parse(el.getAttribute("data-countdown")), skew: clockSkew(el, started) };
    }).filter(function (item) { return !isNaN(item.target); }).filter(tick);
    if (!live.length) { return; }
    var timer = window.setInterval(function () {
      live = live.filter(tick);
      if (!live.length) { window.clearInterval(timer); }
    }, 1000);
  }

  // ---- Confirm dialogs -----------------------------------------------------------------
  // <form data-confirm="Open the bids now?"> or <button data-confirm="..."> asks first.
  function confirmSubmit(event) {
    var form = event.target;
    var submitter = event.submitter;
    var message = (submitter && submitter.getAttribute("data-confirm")) || form.getAttribute("data-confirm");
    if (message && !window.confirm(message)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }

  // ---- Prevent double submission of forms marked data-once --------------------------------
  function onceSubmit(event) {
    var form = event.target;
    if (!form.hasAttribute("data-once") || event.defaultPrevented) { return; }
    if (form.getAttribute("data-submitted") === "1") { event.preventDefault(); return; }
    form.setAttribute("data-submitted", "1");
  }

  // ---- Links that submit a confirm on click (e.g. <a data-confirm>) ------------------------
  function confirmClick(event) {
    var link = event.target.closest("a[data-confirm]");
    if (link && !window.confirm(link.getAttribute("data-confirm"))) { event.preventDefault(); }
  }

  document.addEventListener("submit", confirmSubmit, true);
  document.addEventListener("submit", onceSubmit);
  document.addEventListener("click", confirmClick);

  function ready(fn) {
    if (document.readyState !== "loading") { fn(); } else { document.addEventListener("DOMContentLoaded", fn); }
  }
  ready(function () { startCountdowns(document); });

  window.Canal = window.Canal || {};
  window.Canal.startCountdowns = startCountdowns;
  window.Canal.formatRemaining = formatRemaining;
})();
// === end shell ===========================================================================
