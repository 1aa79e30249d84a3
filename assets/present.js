/* Presentation mode, page by page (with assets/views.js and assets/present.css), and printing.
 *
 * - One section of the page at a time (the figure, then its statistics or tables): ↓ / ↑ (or Page Down /
 *   Page Up) step through them on every page; on a page without a parameter to step (Overview, Safety)
 *   ← / → step through them too. The "2 / 3" marker says where you are.
 * - Every visible figure is fitted to the window (its height set to the room left under it); a section
 *   without a figure that is still taller than the window is scaled down to fit. Nothing needs scrolling
 *   at 1280×720 or 1920×1080.
 * - Printing: figures are re-laid out at the printable width of an A4 or Letter page (about 700 px) and
 *   restored afterwards; print.css keeps every figure and table row whole.
 */
(function () {
  "use strict";

  var SECTIONS = {
    overview: [".card:has(#ov-design)", ".row:has(#ov-disposition)"],
    trajectories: [".row:has(#traj-graph)", ".card:has(#traj-stats)", ".card:has(#traj-table)"],
    comparison: [".card:has(#cmp-fig)", ".card:has(#cmp-tables)"],
    safety: [".card:has(#ae-summary)", ".card:has(#ae-incidence-grid)", ".card:has(#ae-timeline)"],
    patient: [".card:has(#pt-figure)"]
  };
  var DOCK = 46;  /* px kept free at the bottom for the deck dock and the ◀ ▶ buttons */
  var current = {};  /* page id -> section index */

  function presenting() { return !!document.querySelector("#app-root.presenting"); }

  function pageId() {
    var wrap = document.querySelector("#page-content > .page-wrap");
    return wrap && wrap.id ? wrap.id.replace(/^page-/, "") : null;
  }

  function sectionEls(pid) {
    var wrap = document.querySelector("#page-content > .page-wrap");
    if (!wrap || !SECTIONS[pid]) return [];
    return SECTIONS[pid].map(function (sel) { return wrap.querySelector(sel); }).filter(Boolean);
  }

  function marker() {
    var m = document.getElementById("present-section-pos");
    if (!m) {
      m = document.createElement("div");
      m.id = "present-section-pos";
      m.className = "present-section-pos";
      m.setAttribute("role", "status");
      document.body.appendChild(m);
    }
    return m;
  }

  function apply() {
    var pid = pageId();
    var els = sectionEls(pid);
    var on = presenting();
    var i = Math.min(current[pid] || 0, Math.max(els.length - 1, 0));
    els.forEach(function (el, k) {
      el.classList.toggle("present-off", on && k !== i);
      if (!on) { el.style.zoom = ""; }
    });
    /* other blocks of the page (arm cards, the AE listing, download rows) wait outside presentation mode */
    var wrap = document.querySelector("#page-content > .page-wrap");
    var root = wrap && wrap.lastElementChild;
    if (root && SECTIONS[pid]) {
      Array.from(root.children).forEach(function (el) {
        if (els.indexOf(el) >= 0 || /^H\d$/.test(el.tagName) || el.querySelector("#pt-header")) return;
        if (el.matches(".card, .row, .text-end") || el.querySelector(".card")) el.classList.toggle("present-off", on);
      });
    }
    var m = marker();
    m.textContent = on && els.length > 1 ? (i + 1) + " / " + els.length : "";
    m.style.display = m.textContent ? "block" : "none";
    if (on) { fit(); }
  }

  function step(delta) {
    var pid = pageId();
    var els = sectionEls(pid);
    if (els.length < 2) return false;
    var i = (current[pid] || 0) + delta;
    if (i < 0 || i >= els.length) return false;
    current[pid] = i;
    window.scrollTo(0, 0);
    apply();
    return true;
  }

  /* The room under an element's top edge, in the window. */
  function room(el) {
    return window.innerHeight - el.getBoundingClientRect().top - DOCK;
  }

  function fit() {
    if (!presenting() || !window.Plotly) return;
    document.querySelectorAll("#page-content .js-plotly-plot").forEach(function (gd) {
      if (!gd.offsetParent || !gd.layout) return;  /* hidden */
      /* drawn while its section was hidden: lay it out again at its width */
      var host0 = gd.closest(".dash-graph") || gd.parentElement;
      var width = host0 ? host0.clientWidth : gd.offsetWidth;
      if (gd._fullLayout && width > 0 && Math.abs(width - gd._fullLayout.width) > 6) {
        window.Plotly.relayout(gd, {width: width});
      }
      /* what the figure's section shows under it (a caption) keeps its room too */
      var sec = gd.closest(".card, .row");
      var below = sec ? Math.max(0, sec.getBoundingClientRect().bottom - gd.getBoundingClientRect().bottom - 12) : 0;
      var want = Math.max(260, Math.floor(room(gd) - below));
      var have = gd.layout.height || gd.offsetHeight;
      if (Math.abs(want - have) > 6) {
        var host = gd.closest(".dash-graph");
        if (host) host.style.height = want + "px";
        window.Plotly.relayout(gd, {height: want});
      }
    });
    var pid = pageId();
    sectionEls(pid).forEach(function (el) {
      if (el.classList.contains("present-off") || el.querySelector(".js-plotly-plot")) return;
      el.style.zoom = "";
      var h = el.getBoundingClientRect().height;
      var r = room(el);
      if (h > r && h > 0) el.style.zoom = String(Math.max(0.45, Math.floor((r / h) * 100) / 100));
    });
  }

  document.addEventListener("keydown", function (e) {
    if (!presenting() || e.altKey || e.ctrlKey || e.metaKey) return;
    var t = e.target;
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
    var down = e.key === "ArrowDown" || e.key === "PageDown";
    var up = e.key === "ArrowUp" || e.key === "PageUp";
    /* ← → belong to the page's ◀ ▶ (assets/views.js) when it has a parameter to step */
    if (!document.querySelector("#page-content .present-step")) {
      if (e.key === "ArrowRight") down = true;
      if (e.key === "ArrowLeft") up = true;
    }
    if ((down || up) && step(down ? 1 : -1)) e.preventDefault();
  });

  /* Re-apply when the page, the mode or a figure changes (cheap: a class toggle and a size check). */
  var last = "";
  window.setInterval(function () {
    var key = (pageId() || "") + "|" + presenting();
    if (key !== last) { last = key; apply(); return; }
    if (presenting()) fit();
  }, 600);
  window.addEventListener("resize", function () { if (presenting()) fit(); });

  /* Printing: figures at the printable width of A4 / Letter (≈ 700 px), restored afterwards. */
  var PRINT_WIDTH = 700;
  var saved = [];
  window.addEventListener("beforeprint", function () {
    if (!window.Plotly) return;
    saved = [];
    document.querySelectorAll("#page-content .js-plotly-plot").forEach(function (gd) {
      if (!gd.layout) return;
      saved.push([gd, gd.layout.width, gd.layout.height, gd.layout.autosize]);
      var h = gd.layout.height || gd.offsetHeight;
      var w = gd.offsetWidth || PRINT_WIDTH;
      window.Plotly.relayout(gd, {width: PRINT_WIDTH, height: Math.round(h * Math.min(1, Math.max(0.75, PRINT_WIDTH / w))),
                                  autosize: false});
    });
  });
  window.addEventListener("afterprint", function () {
    saved.forEach(function (s) {
      window.Plotly.relayout(s[0], {width: s[1] || null, height: s[2] || null, autosize: s[3] !== false});
    });
    saved = [];
  });

  window.trialPresent = {step: step, fit: fit, apply: apply};
})();
