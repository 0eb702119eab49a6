// Keeps an open page up to date: every 30 seconds, fetch this same page again and swap in the
// regions marked data-refresh (each has an id). Pages are complete without JavaScript; this only
// saves the reader a reload. A region holding the keyboard focus is left alone so focus is never lost.
(function () {
  "use strict";

  var PERIOD_MS = 30000;

  function swap(html) {
    var fresh = new DOMParser().parseFromString(html, "text/html");
    document.querySelectorAll("[data-refresh][id]").forEach(function (region) {
      var replacement = fresh.getElementById(region.id);
      if (!replacement || region.contains(document.activeElement)) {
        return;
      }
      if (replacement.innerHTML !== region.innerHTML) {
        region.replaceChildren.apply(
          region,
          Array.prototype.map.call(replacement.childNodes, function (node) {
            return document.importNode(node, true);
          })
        );
      }
    });
  }

  function refresh() {
    if (document.hidden) {
      return;
    }
    fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.text();
      })
      .then(swap)
      .catch(function () {
        // Keep what is shown; the next round tries again.
      });
  }

  if (document.querySelector("[data-refresh]")) {
    window.setInterval(refresh, PERIOD_MS);
  }
})();
