// Keeps an open page up to date. Every 30 seconds: say again how long ago each time was (the
// "hace 2 minutos" inside each <time datetime>, counted as the server counts it), and fetch this same
// page again to bring in what changed in the regions marked data-refresh (each has an id). Pages are
// complete without JavaScript; this only saves the reader a reload.
//
// Screen readers: a region holding the keyboard focus or an open popover is left alone, so neither is
// lost. Only the aria-live parts (the light's word and reason) are announced, and only when their words
// changed: the elements on the way down to them are kept, and a live element's content is replaced
// only when it differs.
(function () {
  "use strict";

  var PERIOD_MS = 30000;
  // Largest unit first, as the server's time_ago counts (a month is 30 days, a year 365).
  var UNITS = [
    ["year", 365 * 86400],
    ["month", 30 * 86400],
    ["day", 86400],
    ["hour", 3600],
    ["minute", 60],
  ];

  function formatters() {
    var lang = document.documentElement.lang || "en";
    try {
      return {
        counted: new Intl.RelativeTimeFormat(lang, { numeric: "always" }),
        now: new Intl.RelativeTimeFormat(lang, { numeric: "auto" }).format(0, "second"),
      };
    } catch (error) {
      return null;
    }
  }

  function timeAgo(seconds, format) {
    for (var i = 0; i < UNITS.length; i += 1) {
      var count = Math.floor(Math.abs(seconds) / UNITS[i][1]);
      if (count) {
        return format.counted.format(seconds >= 0 ? -count : count, UNITS[i][0]);
      }
    }
    return format.now;
  }

  function updateTimes(root) {
    var format = formatters();
    if (!format) {
      return;
    }
    var now = Date.now();
    root.querySelectorAll("time[datetime] .ago").forEach(function (ago) {
      var at = Date.parse(ago.closest("time").getAttribute("datetime"));
      if (!isNaN(at)) {
        ago.textContent = timeAgo((now - at) / 1000, format);
      }
    });
  }

  function imported(nodes) {
    return Array.prototype.map.call(nodes, function (node) {
      return document.importNode(node, true);
    });
  }

  // The child of ``current`` that holds the live element ``freshChild`` is or holds, if any.
  function holder(current, freshChild) {
    if (freshChild.nodeType !== Node.ELEMENT_NODE) {
      return null;
    }
    var live = Array.prototype.slice.call(freshChild.querySelectorAll("[aria-live][id]"));
    if (freshChild.matches("[aria-live][id]")) {
      live.unshift(freshChild);
    }
    for (var i = 0; i < live.length; i += 1) {
      var node = document.getElementById(live[i].id);
      if (node && node !== current && current.contains(node)) {
        while (node.parentNode !== current) {
          node = node.parentNode;
        }
        return node.nodeName === freshChild.nodeName ? node : null;
      }
    }
    return null;
  }

  // Bring ``current`` to ``fresh``'s content. The children on the way down to a live element are kept
  // (and brought up to date the same way), so the live element stays the same node and speaks only if
  // its own content changed; every other child is replaced by its fresh copy.
  function update(current, fresh) {
    if (current.innerHTML === fresh.innerHTML) {
      return;
    }
    if (!current.querySelector("[aria-live][id]")) {
      current.replaceChildren.apply(current, imported(fresh.childNodes));
      return;
    }
    var next = Array.prototype.map.call(fresh.childNodes, function (child) {
      var kept = holder(current, child);
      if (kept) {
        update(kept, child);
        return kept;
      }
      return document.importNode(child, true);
    });
    Array.prototype.slice.call(current.childNodes).forEach(function (node) {
      if (next.indexOf(node) < 0) {
        current.removeChild(node);
      }
    });
    var anchor = current.firstChild;
    next.forEach(function (node) {
      if (node === anchor) {
        anchor = anchor.nextSibling;
      } else {
        current.insertBefore(node, anchor);
      }
    });
  }

  function busy(region) {
    if (region.contains(document.activeElement)) {
      return true;
    }
    try {
      return region.querySelector(":popover-open") !== null;
    } catch (error) {
      return false;
    }
  }

  function swap(html) {
    var fresh = new DOMParser().parseFromString(html, "text/html");
    // Counted from the same clock as the page's, so times alone never make a region look changed.
    updateTimes(fresh);
    document.querySelectorAll("[data-refresh][id]").forEach(function (region) {
      var replacement = fresh.getElementById(region.id);
      if (replacement && !busy(region)) {
        update(region, replacement);
      }
    });
  }

  function refresh() {
    if (document.hidden) {
      return;
    }
    updateTimes(document);
    if (!document.querySelector("[data-refresh]")) {
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

  updateTimes(document);
  window.setInterval(refresh, PERIOD_MS);
})();
