// payments (P2): the payment page refreshes itself while the payment is open.
// <dd data-payment-status-url="/payments/7/status.json" data-payment-status="requires_action"
//     data-payment-poll="1"> polls the JSON status every few seconds and reloads the page
// when the status changed (the server renders the new state; nothing is trusted here).
(function () {
  "use strict";
  var el = document.querySelector("[data-payment-status-url][data-payment-poll]");
  if (!el || !window.fetch) {
    return;
  }
  var url = el.getAttribute("data-payment-status-url");
  var shown = el.getAttribute("data-payment-status");
  var delay = 3000;
  var maxDelay = 30000;

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("status " + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        if (data.status && data.status !== shown) {
          window.location.reload();
          return;
        }
        if (!data.final) {
          window.setTimeout(poll, delay);
        }
      })
      .catch(function () {
        delay = Math.min(delay * 2, maxDelay);
        window.setTimeout(poll, delay);
      });
  }

  window.setTimeout(poll, delay);
})();
