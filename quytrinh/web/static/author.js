// Live validation of the definition editor (/author/...): posts the text to
// /author/check (debounced) and replaces the findings, the counts and the
// diagram preview. Without this script the "Kiểm tra" button does the same
// with a full page.
(function () {
  "use strict";
  var form = document.getElementById("editor-form");
  var text = document.getElementById("text");
  if (!form || !text || !window.fetch) { return; }
  var token = form.querySelector("input[name=csrf_token]").value;
  var status = document.getElementById("live-status");
  var counts = document.getElementById("counts");
  var preview = document.getElementById("preview");
  var timer = null;
  var seq = 0;

  function goToLine(line) {
    var lines = text.value.split("\n");
    var start = 0;
    for (var i = 0; i < line - 1 && i < lines.length; i++) { start += lines[i].length + 1; }
    text.focus();
    text.setSelectionRange(start, start + (lines[line - 1] || "").length);
  }

  // Each finding gets a button that selects its line in the text: reachable with Tab, pressed with
  // Enter or Space (a click anywhere on the finding does the same).
  // A checker's message with its `keys` as <code> (what is typed in the YAML), as the server's "ticks" filter
  // does; an unpaired backtick stays as it is.
  function appendTicks(el, text) {
    var parts = String(text || "").split("`");
    if (parts.length % 2 === 0) { el.appendChild(document.createTextNode(text || "")); return; }
    parts.forEach(function (p, i) {
      if (i % 2 === 0) { el.appendChild(document.createTextNode(p)); return; }
      var code = document.createElement("code");
      code.textContent = p;
      el.appendChild(code);
    });
  }

  function addGoTo(li, line) {
    if (!line) { return; }
    var go = document.createElement("button");
    go.type = "button";
    go.className = "link goto-line";
    go.textContent = "Đến dòng " + line;
    go.setAttribute("aria-label", "Đến dòng " + line + " trong văn bản định nghĩa");
    go.addEventListener("click", function (e) { e.stopPropagation(); goToLine(line); });
    li.appendChild(document.createTextNode(" "));
    li.appendChild(go);
    li.title = "Bấm để đến dòng " + line;
    li.addEventListener("click", function () { goToLine(line); });
  }

  function renderFindings(list) {
    var old = document.getElementById("findings");
    var ul = document.createElement("ul");
    ul.className = "findings";
    ul.id = "findings";
    if (!list.length) {
      var none = document.createElement("li");
      none.className = "muted";
      none.textContent = "Không có lỗi hay cảnh báo nào.";
      ul.appendChild(none);
    }
    list.forEach(function (f) {
      var li = document.createElement("li");
      li.className = "f-" + f.severity;
      li.setAttribute("data-line", f.line);
      li.setAttribute("data-rule", f.rule_id);
      var sev = document.createElement("span");
      sev.className = "sev";
      sev.textContent = f.severity_label;
      li.appendChild(sev);
      li.appendChild(document.createTextNode(" · dòng " + f.line + (f.col ? ", cột " + f.col : "") +
        (f.step ? " · bước " + f.step + (f.step_number ? " (Bước " + f.step_number + ")" : "") : "")));
      // the rule's id (English) stays in data-rule; "(Bước 3)": the step's number in the step table
      li.appendChild(document.createElement("br"));
      appendTicks(li, f.message);
      addGoTo(li, f.line);
      ul.appendChild(li);
    });
    old.parentNode.replaceChild(ul, old);
  }

  function renderCounts(errors, warnings) {
    counts.textContent = "";
    if (errors) {
      var e = document.createElement("span");
      e.className = "e";
      e.textContent = errors + " lỗi";
      counts.appendChild(e);
      counts.appendChild(document.createTextNode(" "));
    }
    var w = document.createElement("span");
    w.className = "w";
    w.textContent = warnings + " cảnh báo";
    counts.appendChild(w);
  }

  function check() {
    var mine = ++seq;
    status.textContent = "Đang kiểm tra…";
    var body = new URLSearchParams();
    body.set("text", text.value);
    body.set("code", form.elements.code.value);
    body.set("csrf_token", token);
    fetch("/author/check", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRF-Token": token },
      body: body
    }).then(function (r) { return r.json(); }).then(function (data) {
      if (mine !== seq) { return; }
      if (!data.ok) { status.textContent = data.message || "Không kiểm tra được."; return; }
      renderFindings(data.findings);
      renderCounts(data.errors, data.warnings);
      if (data.svg) {
        preview.innerHTML = data.svg;  // drawn by our own renderer, labels escaped
        status.textContent = "Đã kiểm tra: " + data.errors + " lỗi, " + data.warnings + " cảnh báo.";
      } else {
        status.textContent = "Văn bản chưa đọc được: sơ đồ bên dưới là bản trước khi sửa.";
      }
      form.setAttribute("data-checked", String(mine));
    }).catch(function () {
      if (mine === seq) { status.textContent = "Mất kết nối: bấm “Kiểm tra” để kiểm tra lại."; }
    });
  }

  // What is submitted is the saved text: while the text differs from it, "Trình" waits for a save (the
  // server refuses a submission whose posted text is not the saved one too).
  var submit = document.getElementById("submit");
  var note = document.getElementById("submit-note");
  var saved = text.value;
  var blocked = submit ? submit.disabled : true;  // the saved text has lint errors
  var savedNote = note ? note.textContent : "";
  text.addEventListener("input", function () {
    clearTimeout(timer);
    status.textContent = "Đang sửa…";
    timer = setTimeout(check, 500);
    if (submit) {
      var dirty = text.value !== saved;
      submit.disabled = blocked || dirty;
      if (note) { note.textContent = dirty ? "Văn bản đã sửa, chưa lưu: hãy lưu dự thảo rồi mới trình." : savedNote; }
    }
  });
  // Leaving the page (a menu link, "Xem sơ đồ so sánh", closing the tab) with text that is not saved asks
  // first: the browser's own "leave the page?" question. Sending the form (check, save, submit) does not.
  // data-unsaved: the page came back from a refused save or a check, its text not the saved draft's.
  var unsaved = form.getAttribute("data-unsaved") === "1";
  var sending = false;
  form.addEventListener("submit", function () { sending = true; });
  window.addEventListener("beforeunload", function (e) {
    if (sending || (!unsaved && text.value === saved)) { return; }
    e.preventDefault();
    e.returnValue = "";  // older browsers need a value to ask
  });
  var findings = document.getElementById("findings");
  if (findings) {
    Array.prototype.forEach.call(findings.querySelectorAll("li[data-line]"), function (li) {
      addGoTo(li, parseInt(li.getAttribute("data-line"), 10));
    });
  }
})();
