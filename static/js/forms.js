/* After a form comes back with errors, move the focus to its error summary, so a screen reader
   reads what went wrong and a keyboard starts from the list of links to the fields.
   A static file, as the security policy allows no inline script. */
(function () {
  "use strict";
  var summary = document.querySelector(".error-summary");
  if (summary) summary.focus();
  // A link in the summary focuses its field, not only scrolls to it.
  document.addEventListener("click", function (event) {
    var link = event.target.closest(".error-summary a[href^='#']");
    if (!link) return;
    var field = document.getElementById(link.getAttribute("href").slice(1));
    if (!field) return;
    event.preventDefault();
    field.focus();
    field.scrollIntoView({ block: "center" });
  });
})();
