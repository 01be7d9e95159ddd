// A stand-in for Stripe.js (https://js.stripe.com/v3/) for the browser tests: the same
// global `Stripe(publishableKey)` and the calls Nova's plan page makes. Real Stripe.js
// draws the card field in its own frame and talks to Stripe; this one draws a plain input
// and answers locally, recording what the page asked for in `window.__fakeStripe`.
(function () {
  "use strict";
  var DECLINED = "4000000000000002";
  var state = (window.__fakeStripe = { keys: [], confirmed: [], paymentMethods: [] });
  window.Stripe = function (publishableKey) {
    state.keys.push(publishableKey);
    return {
      elements: function () {
        return {
          create: function (kind) {
            var input = document.createElement("input");
            input.setAttribute("aria-label", "Card number");
            input.setAttribute("inputmode", "numeric");
            var handlers = {};
            return {
              kind: kind,
              input: input,
              mount: function (el) { el.appendChild(input); },
              on: function (ev, cb) { handlers[ev] = cb; },
              destroy: function () { input.remove(); },
            };
          },
        };
      },
      createPaymentMethod: function (opts) {
        var number = opts.card.input.value.replace(/\s+/g, "");
        if (number === DECLINED) {
          return Promise.resolve({ error: { type: "card_error", code: "card_declined", message: "Your card was declined." } });
        }
        if (!/^\d{16}$/.test(number)) {
          return Promise.resolve({ error: { type: "validation_error", message: "Your card number is incomplete." } });
        }
        var pm = { id: "pm_fake_" + number.slice(-4), object: "payment_method" };
        state.paymentMethods.push(pm.id);
        return Promise.resolve({ paymentMethod: pm });
      },
      confirmCardPayment: function (clientSecret) {
        state.confirmed.push(clientSecret);
        if (!/_secret_/.test(clientSecret)) {
          return Promise.resolve({ error: { message: "Invalid client secret." } });
        }
        return Promise.resolve({ paymentIntent: { status: "succeeded", client_secret: clientSecret } });
      },
    };
  };
})();
