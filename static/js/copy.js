// Copy buttons for the command blocks. A block (.command-block) is complete without JavaScript: its
// commands are plain, selectable text. This adds a button to each, labelled with the block's
// data-copy ("Copiar", "Copy"); a click copies the commands, and the block's aria-live status says
// data-copied ("Copiado", "Copied") so a screen reader hears it too.
(function () {
  "use strict";

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Without the clipboard API (a plain-http address): select the text and copy it the old way.
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.className = "copy-source";
      document.body.appendChild(area);
      area.select();
      var copied = false;
      try {
        copied = document.execCommand("copy");
      } catch (error) {
        copied = false;
      }
      document.body.removeChild(area);
      if (copied) {
        resolve();
      } else {
        reject(new Error("copy refused"));
      }
    });
  }

  function addButton(block) {
    var code = block.querySelector("pre code");
    var status = block.querySelector(".copy-status");
    if (!code || !status || block.querySelector("button.copy")) {
      return;
    }
    var button = document.createElement("button");
    button.type = "button";
    button.className = "copy";
    button.textContent = block.getAttribute("data-copy") || "Copy";
    var timer = null;
    button.addEventListener("click", function () {
      copyText(code.textContent).then(function () {
        status.textContent = block.getAttribute("data-copied") || "Copied";
        clearTimeout(timer);
        timer = setTimeout(function () {
          status.textContent = "";
        }, 4000);
      }, function () {
        // Copying was refused: select the commands, so the reader can copy them by hand.
        var range = document.createRange();
        range.selectNodeContents(code);
        var selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
      });
    });
    block.insertBefore(button, status);
  }

  function start() {
    var blocks = document.querySelectorAll(".command-block");
    for (var i = 0; i < blocks.length; i++) {
      addButton(blocks[i]);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
