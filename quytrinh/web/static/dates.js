// A date picker says its date in Vietnamese beside it: "Thứ Hai, 30/11/2026" (with the hour for a date and
// time). A browser shows the picker's value in its own language's order, so an English browser shows
// 11/01/2026 for 1 November, which a Vietnamese reader takes for 11 January; the echo removes the doubt and
// names the weekday (a reception or an appointment on a Sunday is a mistake seen at once).
//
// Every <input type="date"> and <input type="datetime-local"> of a page that loads this file gets a
// <span class="muted small date-echo"> right after it, kept up to date as the value changes. The value is read
// as the browser sends it (yyyy-mm-dd, yyyy-mm-ddThh:mm): no time zone is involved. Without JavaScript the
// picker works as before. A file, not an inline script: the CSP forbids inline scripts.
(function () {
  "use strict";

  var WEEKDAYS = ["Chủ nhật", "Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy"];
  var VALUE = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}))?/;

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  // "Thứ Hai, 30/11/2026" or "Thứ Hai, 30/11/2026, 08:00"; "" for an empty or partial value.
  function say(value) {
    var m = VALUE.exec(value || "");
    if (!m) { return ""; }
    var y = +m[1], mo = +m[2], d = +m[3];
    var day = new Date(y, mo - 1, d);
    day.setFullYear(y);  // years below 100 are not 19xx
    if (day.getMonth() !== mo - 1 || day.getDate() !== d) { return ""; }
    var text = WEEKDAYS[day.getDay()] + ", " + pad(d) + "/" + pad(mo) + "/" + m[1];
    return m[4] ? text + ", " + m[4] + ":" + m[5] : text;
  }

  function attach(input) {
    var echo = document.createElement("span");
    echo.className = "muted small date-echo";
    echo.setAttribute("aria-live", "polite");
    if (input.id) { echo.id = input.id + "-echo"; }
    input.insertAdjacentElement("afterend", echo);
    function update() { echo.textContent = say(input.value); }
    input.addEventListener("input", update);
    input.addEventListener("change", update);
    update();
  }

  function start() {
    var inputs = document.querySelectorAll('input[type="date"], input[type="datetime-local"]');
    for (var i = 0; i < inputs.length; i++) { attach(inputs[i]); }
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); }
  else { start(); }
})();
