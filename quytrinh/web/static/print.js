// The print button of the printable forms (no inline script: the pages' CSP forbids it).
document.addEventListener("DOMContentLoaded", function () {
  var b = document.getElementById("print-button");
  if (b) { b.addEventListener("click", function () { window.print(); }); }
});
