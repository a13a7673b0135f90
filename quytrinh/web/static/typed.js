// What a user typed into a form survives having to sign in again (docs/web.md, "Signed out in the middle of an
// action"). Loaded by base.html on every page; a file, not an inline script: the CSP forbids inline scripts.
//
// * On submit of a POST form of the app, the form's typed fields (text, textarea, select, radio and checkbox
//   state; never passwords, hidden fields, CSRF tokens or idempotency keys) are kept in this tab's
//   sessionStorage, keyed by the form's action path, with the time. Nothing is sent to the server.
// * When that POST finds the session ended, the server sends the browser to the sign-in page with a marker
//   naming the form's page (deps.login_redirect_target: an element [data-form-not-done] with data-page).
//   The drafts are kept on a page with that marker, or marked [data-keep-typed] (the sign-in page, wrong
//   passwords included).
// * On the marked page, once signed in, the fields of the forms with the same action are filled again and a
//   note says so. Nothing is sent: the user checks and presses the button. A draft is used once.
// * Any other page load (a successful POST's next page, any other navigation) discards the drafts; drafts
//   older than 12 hours are never used. Without sessionStorage (or without JavaScript) nothing happens.
(function () {
  "use strict";

  var KEY = "quytrinh.typed";
  var MAX_AGE_MS = 12 * 3600 * 1000;
  var NOTE = "Đã điền lại nội dung bạn đã nhập trước khi đăng nhập lại. Kiểm tra rồi gửi lại.";
  var SKIP_TYPES = { password: 1, hidden: 1, file: 1, submit: 1, button: 1, reset: 1, image: 1 };
  var SKIP_NAMES = /^(csrf|idem|idempotency|next$|password)/i;
  var NOT_KEPT = { "/login": 1, "/logout": 1 };

  function storage() {
    try {
      var s = window.sessionStorage;
      var probe = KEY + ".probe";
      s.setItem(probe, "1");
      s.removeItem(probe);
      return s;
    } catch (e) {
      return null;
    }
  }

  function load(s) {
    try {
      var v = JSON.parse(s.getItem(KEY) || "null");
      if (v && typeof v === "object" && v.drafts && typeof v.drafts === "object") { return v; }
    } catch (e) { /* unreadable: start again */ }
    return { drafts: {}, pending: null };
  }

  function save(s, state) {
    try {
      if (!state.pending && !Object.keys(state.drafts).length) { s.removeItem(KEY); }
      else { s.setItem(KEY, JSON.stringify(state)); }
    } catch (e) { /* full or refused: nothing kept */ }
  }

  // "/items/7/complete" for <form action="/items/7/complete"> (the attribute: an input named "action" would
  // hide form.action).
  function actionPath(form) {
    try {
      return new URL(form.getAttribute("action") || "", window.location.href).pathname;
    } catch (e) {
      return null;
    }
  }

  function pageKey(href) {
    try {
      var u = new URL(href, window.location.href);
      return decodeURIComponent(u.pathname + u.search);
    } catch (e) {
      return null;
    }
  }

  function isPost(form) {
    return (form.getAttribute("method") || "get").toLowerCase() === "post";
  }

  function kept(el) {
    if (!el.name || el.disabled || el.hasAttribute("data-no-draft")) { return false; }
    var tag = el.tagName.toLowerCase();
    if (tag !== "input" && tag !== "textarea" && tag !== "select") { return false; }
    if (tag === "input" && SKIP_TYPES[(el.type || "text").toLowerCase()]) { return false; }
    return !SKIP_NAMES.test(el.name);
  }

  function isChoice(el) {
    return el.tagName.toLowerCase() === "input" && (el.type === "checkbox" || el.type === "radio");
  }

  // The typed fields of a form: [{n: name, k: index among the same-named fields, v: value | s: selected | c: checked}]
  function fieldsOf(form) {
    var out = [], seen = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!kept(el)) { return; }
      if (isChoice(el)) {
        out.push({ n: el.name, v: el.value, c: el.checked });
        return;
      }
      var k = seen[el.name] = (seen[el.name] || 0) + 1;
      if (el.tagName.toLowerCase() === "select") {
        var sel = [];
        Array.prototype.forEach.call(el.options, function (o) { if (o.selected) { sel.push(o.value); } });
        out.push({ n: el.name, k: k - 1, s: sel });
      } else {
        out.push({ n: el.name, k: k - 1, v: el.value });
      }
    });
    return out;
  }

  function changed(el) {
    el.dispatchEvent(new Event("input", { bubbles: true }));
    el.dispatchEvent(new Event("change", { bubbles: true }));
  }

  // Put the draft's values back into the form; the fields whose value changed.
  function refill(form, fields) {
    var filled = [];
    var byName = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!kept(el)) { return; }
      (byName[el.name] = byName[el.name] || []).push(el);
    });
    fields.forEach(function (f) {
      var els = byName[f.n] || [];
      if (f.c !== undefined) {
        els.forEach(function (el) {
          if (isChoice(el) && el.value === f.v && el.checked !== f.c) {
            el.checked = f.c;
            changed(el);
            filled.push(el);
          }
        });
        return;
      }
      var plain = els.filter(function (el) { return !isChoice(el); });
      var el = plain[f.k];
      if (!el) { return; }
      if (f.s !== undefined && el.tagName.toLowerCase() === "select") {
        var diff = false;
        Array.prototype.forEach.call(el.options, function (o) {
          var want = f.s.indexOf(o.value) >= 0;
          if (o.selected !== want && (want || el.multiple)) { o.selected = want; diff = true; }
        });
        if (diff) { changed(el); filled.push(el); }
      } else if (typeof f.v === "string" && el.tagName.toLowerCase() !== "select" && el.value !== f.v) {
        el.value = f.v;
        changed(el);
        filled.push(el);
      }
    });
    return filled;
  }

  function note(form) {
    var p = document.createElement("p");
    p.className = "flash flash-info typed-restored";
    p.setAttribute("role", "status");
    p.textContent = NOTE;
    form.insertBefore(p, form.firstChild);
  }

  function onSubmit(event) {
    var form = event.target;
    if (event.defaultPrevented || !form || form.tagName.toLowerCase() !== "form" || !isPost(form)) { return; }
    var path = actionPath(form);
    if (!path || NOT_KEPT[path]) { return; }
    var s = storage();
    if (!s) { return; }
    var fields = fieldsOf(form);
    var state = load(s);
    if (fields.length) {
      state.drafts[path] = { at: Date.now(), fields: fields };
    } else {
      delete state.drafts[path];
    }
    save(s, state);
  }

  function onLoad() {
    var s = storage();
    if (!s) { return; }
    var state = load(s);
    var now = Date.now();
    Object.keys(state.drafts).forEach(function (path) {
      var d = state.drafts[path];
      if (!d || typeof d.at !== "number" || now - d.at > MAX_AGE_MS || now < d.at || !Array.isArray(d.fields)) {
        delete state.drafts[path];
      }
    });
    if (state.pending && (typeof state.pending.at !== "number" || now - state.pending.at > MAX_AGE_MS)) {
      state.pending = null;
    }
    // The server said: the form sent from this page was not acted on (the sign-in page, usually).
    var marker = document.querySelector("[data-form-not-done]");
    if (marker && marker.getAttribute("data-page") && Object.keys(state.drafts).length) {
      state.pending = { page: pageKey(marker.getAttribute("data-page")), at: now };
    }
    var here = pageKey(window.location.href);
    if (state.pending && state.pending.page === here) {
      var first = null;
      Array.prototype.forEach.call(document.querySelectorAll("form"), function (form) {
        var path = isPost(form) ? actionPath(form) : null;
        var draft = path && state.drafts[path];
        if (!draft) { return; }
        var filled = refill(form, draft.fields);
        if (filled.length) {
          note(form);
          first = first || filled[0];
        }
      });
      if (first) {
        try { first.focus(); } catch (e) { /* not focusable */ }
      }
      save(s, { drafts: {}, pending: null });  // used once
      return;
    }
    if (marker || document.querySelector("[data-keep-typed]")) {
      save(s, state);  // the sign-in page (or another page naming the form's page): kept until back there
      return;
    }
    save(s, { drafts: {}, pending: null });  // any other page: the drafts are of no use any more
  }

  try {
    document.addEventListener("submit", onSubmit);
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", onLoad);
    } else {
      onLoad();
    }
  } catch (e) { /* an old browser: forms work as before */ }
})();
