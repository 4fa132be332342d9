/* Small page behaviours, loaded as a static file so the security policy needs no inline script. */
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-action]");
    if (!button) return;
    if (button.dataset.action === "print") {
      window.print();
    } else if (button.dataset.action === "copy") {
      var target = document.getElementById(button.dataset.copyTarget);
      if (target && navigator.clipboard) {
        navigator.clipboard.writeText(target.textContent.trim()).then(function () {
          button.textContent = button.dataset.copiedLabel || "Copied";
        });
      }
    }
  });
})();
