/* Accessibility fixes the components cannot be told to make, and each figure's data table.
 *
 * - Dash 4's dropdown puts its Tab stop on a hidden input (aria-hidden, for Safari) that hands focus to the
 *   real button; axe-core rightly calls a focusable aria-hidden element serious. The button becomes the Tab
 *   stop (its keys open the list as before) and is named by its label as well as its value.
 * - A region that scrolls (a wide table) can be reached with the keyboard (tabindex 0).
 * - Every figure is a named figure (role "figure"), and its "Data table" button shows the numbers it draws
 *   as an HTML table under it: its text alternative, one click away.
 * Loaded from /assets (CSP: no inline script); nothing here talks to the server.
 */
(function () {
  "use strict";

  function labelFor(id) {
    if (!id) return null;
    var esc = window.CSS && CSS.escape ? CSS.escape(id) : id;
    return document.querySelector('label[for="' + esc + '"]');
  }

  function fixDropdown(wrapper) {
    var dummy = wrapper.querySelector(":scope > .dash-dropdown-focus-target");
    var button = wrapper.querySelector(":scope > button.dash-dropdown");
    if (!dummy || !button) return;
    if (dummy.getAttribute("tabindex") !== "-1") dummy.setAttribute("tabindex", "-1");
    if (!button.disabled && button.getAttribute("tabindex") !== "0") button.setAttribute("tabindex", "0");
    /* named by its label, then what it shows in the order it shows it (values, then "n selected") */
    var label = labelFor(button.id);
    if (label && !label.id) label.id = button.id + "-label";
    var parts = [label ? label.id : null, button.id + "-value", button.id + "-value-count"].filter(function (id) {
      return id && document.getElementById(id);
    });
    var want = parts.join(" ");
    if (want && button.getAttribute("aria-labelledby") !== want) button.setAttribute("aria-labelledby", want);
  }

  function fixScrollable(el) {
    if (!el.hasAttribute("tabindex")) el.setAttribute("tabindex", "0");
  }

  function figureName(gd) {
    var L = gd.layout || {};
    var t = L.title && (typeof L.title === "string" ? L.title : L.title.text);
    if (!t && L.yaxis && L.yaxis.title) t = typeof L.yaxis.title === "string" ? L.yaxis.title : L.yaxis.title.text;
    var heading = document.querySelector("#page-content h1");
    var name = (t || (heading ? heading.textContent : "Figure")).replace(/<[^>]+>/g, " ").replace(/\s+/g, " ").trim();
    return "Figure: " + name + ". Its numbers: the Data table button under it.";
  }

  function fixFigure(gd) {
    var host = gd.closest(".dash-graph") || gd.parentElement;
    if (!host) return;
    host.setAttribute("role", "figure");
    host.setAttribute("aria-label", figureName(gd));
  }

  function sweep(root) {
    (root.querySelectorAll ? root : document).querySelectorAll(".dash-dropdown-wrapper").forEach(fixDropdown);
    document.querySelectorAll(".table-responsive, .fig-table")
      .forEach(fixScrollable);
    document.querySelectorAll(".js-plotly-plot").forEach(function (gd) { if (gd.layout) fixFigure(gd); });
  }

  var pending = false;
  var observer = new MutationObserver(function (records) {
    records.forEach(function (r) {
      /* the dropdown gives its hidden input the Tab stop back when its button loses focus */
      if (r.type === "attributes" && r.target.classList && r.target.classList.contains("dash-dropdown-focus-target") &&
          r.target.getAttribute("tabindex") !== "-1") {
        r.target.setAttribute("tabindex", "-1");
      }
    });
    if (pending) return;
    pending = true;
    window.requestAnimationFrame(function () { pending = false; sweep(document); refreshTables(); });
  });
  function start() {
    observer.observe(document.body, {childList: true, subtree: true, attributes: true,
                                     attributeFilter: ["tabindex"]});
    sweep(document);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();

  /* -- the figure's data table ---------------------------------------------------------------------------- */
  function plain(v) {
    if (v === null || v === undefined) return "";
    if (typeof v === "number") return isFinite(v) ? String(Math.round(v * 1e4) / 1e4) : "";
    return String(v).replace(/<br\s*\/?>/gi, " · ").replace(/<[^>]+>/g, "").trim();
  }
  function arr(v) {
    if (v === null || v === undefined) return [];
    if (Array.isArray(v)) return v;
    if (ArrayBuffer.isView(v)) return Array.from(v);
    return [v];
  }
  function axisTitle(L, key, fallback) {
    var ax = L[key];
    var t = ax && ax.title ? (typeof ax.title === "string" ? ax.title : ax.title.text) : "";
    return plain(t) || fallback;
  }
  /* An x drawn beside its tick (arms dodged apart at a visit) reads as the tick's value in the table. */
  function tickOf(L) {
    var ax = L.xaxis || {}, vals = arr(ax.tickvals).filter(function (v) { return typeof v === "number"; });
    if (vals.length < 2) return function (x) { return plain(x); };
    var sorted = vals.slice().sort(function (a, b) { return a - b; }), gap = Infinity;
    for (var i = 1; i < sorted.length; i++) gap = Math.min(gap, sorted[i] - sorted[i - 1]);
    var texts = arr(ax.ticktext);
    return function (x) {
      if (typeof x !== "number") return plain(x);
      var best = -1, d = Infinity;
      vals.forEach(function (v, k) { if (Math.abs(v - x) < d) { d = Math.abs(v - x); best = k; } });
      if (best < 0 || d > gap / 2) return plain(x);
      return texts.length === vals.length ? plain(texts[best]) : plain(vals[best]);
    };
  }
  function tableFor(gd) {
    var L = gd._fullLayout || gd.layout || {};
    var xText = tickOf(gd.layout || {});
    var head = ["Series", axisTitle(L, "xaxis", "x"), axisTitle(L, "yaxis", "y"), "Detail"];
    var rows = [];
    /* _fullData: the arrays decoded (the figure's JSON sends numbers as base64 {dtype, bdata}) */
    (gd._fullData || gd.data || []).forEach(function (t) {
      if (t.visible === false || t.visible === "legendonly") return;
      var name = plain(t.name) || "";
      if (t.type === "box") {
        var ys = arr(t.y).filter(function (v) { return typeof v === "number"; });
        var q = t.median !== undefined ? "median " + plain(arr(t.median)[0]) + ", quartiles " + plain(arr(t.q1)[0]) +
          "–" + plain(arr(t.q3)[0]) : "";
        if (ys.length) {
          ys = ys.slice().sort(function (a, b) { return a - b; });
          var med = ys.length % 2 ? ys[(ys.length - 1) / 2] : (ys[ys.length / 2 - 1] + ys[ys.length / 2]) / 2;
          q = "n " + ys.length + ", median " + plain(med) + ", range " + plain(ys[0]) + "–" + plain(ys[ys.length - 1]);
        }
        rows.push([name, "", "", q]);
        return;
      }
      var xs = arr(t.x), yv = arr(t.y), base = arr(t.base), txt = arr(t.text);
      var ep = t.error_y && t.error_y.array ? arr(t.error_y.array) : [], em = t.error_y && t.error_y.arrayminus ? arr(t.error_y.arrayminus) : [];
      var n = Math.max(xs.length, yv.length);
      if (!n || (!name && t.hoverinfo === "skip")) return;
      for (var i = 0; i < n; i++) {
        if ((xs[i] === null || xs[i] === undefined) && (yv[i] === null || yv[i] === undefined)) continue;
        var detail = [];
        if (base.length) detail.push("from " + plain(base[i]));
        if (ep.length && typeof yv[i] === "number") detail.push("interval " + plain(yv[i] - (em.length ? em[i] : ep[i])) + " to " + plain(yv[i] + ep[i]));
        if (txt.length && typeof txt[i] === "string") detail.push(plain(txt[i]));
        rows.push([name, xText(xs[i]), plain(yv[i]), detail.join("; ")]);
      }
    });
    return {head: head, rows: rows};
  }
  function render(box, gd) {
    var data = tableFor(gd);
    var table = document.createElement("table");
    table.className = "table table-sm table-striped";
    var cap = document.createElement("caption");
    cap.textContent = "The figure's data (" + data.rows.length + " rows)";
    table.appendChild(cap);
    var thead = table.createTHead().insertRow();
    data.head.forEach(function (h) { var th = document.createElement("th"); th.scope = "col"; th.textContent = h; thead.appendChild(th); });
    var body = table.createTBody();
    data.rows.slice(0, 5000).forEach(function (r) {
      var tr = body.insertRow();
      r.forEach(function (c) { tr.insertCell().textContent = c; });
    });
    box.replaceChildren(table);
  }
  function graphOf(id) {
    var host = document.getElementById(id);
    return host ? (host.classList.contains("js-plotly-plot") ? host : host.querySelector(".js-plotly-plot")) : null;
  }
  var shown = {};  /* graph id -> its last drawn data (redrawn when the figure changes) */
  function refreshTables() {
    Object.keys(shown).forEach(function (id) {
      var box = document.getElementById(id + "-table");
      var gd = graphOf(id);
      if (!box || box.hidden || !gd) { if (!box) delete shown[id]; return; }
      if (shown[id] !== gd.data) { shown[id] = gd.data; render(box, gd); }
    });
  }
  document.addEventListener("click", function (e) {
    var btn = e.target && e.target.closest ? e.target.closest(".fig-table-btn") : null;
    if (!btn) return;
    var id = btn.getAttribute("data-graph");
    var box = document.getElementById(id + "-table");
    var gd = graphOf(id);
    if (!box || !gd) return;
    var open = box.hidden;
    box.hidden = !open;
    btn.setAttribute("aria-expanded", open ? "true" : "false");
    btn.textContent = open ? "Hide data table" : "Data table";
    if (open) { render(box, gd); shown[id] = gd.data; fixScrollable(box); }
  });
})();
