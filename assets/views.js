/* Presentation mode and "Copy link to this view": clientside callbacks and the arrow keys.
 *
 * Loaded from /assets like every script of the app (no inline script, nothing from outside).
 * The shell (components/shell.py) wires these functions with ClientsideFunction("views", ...).
 */
(function () {
  "use strict";

  var FONT_K = 1.3;      // every font ×1.3 ...
  var AXIS_MIN = 18;     // ... and tick labels at least 18 px, axis titles 19 px
  var LINE_K = 1.6;      // line widths
  var MARKER_K = 1.3;    // marker sizes
  var originals = {};    // graph id -> the figure as the server sent it

  function bigger(font, fallback, min) {
    var f = Object.assign({}, font || {});
    f.size = Math.max(min, Math.round(((f.size || fallback) * FONT_K) * 10) / 10);
    return f;
  }

  function scaleArray(v, k) {
    if (typeof v === "number") return v * k;
    if (Array.isArray(v)) return v.map(function (x) { return typeof x === "number" ? x * k : x; });
    return v;  // typed arrays arrive as {dtype, bdata}: left as they are
  }

  function availableHeight(gid) {
    // The graph's offset inside the page does not depend on the filter bar, which may still be
    // visible while the presenting class is being applied: measure from #page-content.
    var el = document.getElementById(gid);
    var page = document.getElementById("page-content");
    var nav = document.querySelector(".navbar");
    var navH = nav ? nav.offsetHeight : 56;
    var offset = (el && page) ? el.getBoundingClientRect().top - page.getBoundingClientRect().top : 60;
    // + the filter summary line and the page's padding above #page-content while presenting
    return Math.max(360, Math.round(window.innerHeight - navH - offset - 64));
  }

  function presentedFigure(src, gid) {
    var fig = JSON.parse(JSON.stringify(src));
    var L = fig.layout = fig.layout || {};
    var base = (L.font && L.font.size) || 12;
    L.font = bigger(L.font, base, 19);
    Object.keys(L).forEach(function (k) {
      var ax = L[k];
      if (!/^[xy]axis\d*$/.test(k) || !ax || typeof ax !== "object") return;
      // A thin category strip (the n-per-visit rows under a trajectory) is a table, not an axis.
      var thin = ax.domain && (ax.domain[1] - ax.domain[0]) < 0.3 && k[0] === "y" &&
        (ax.type === "category" || Array.isArray(ax.categoryarray));
      ax.tickfont = thin ? Object.assign({}, ax.tickfont || {}, {size: Math.max(15, ((ax.tickfont && ax.tickfont.size) || base) * 1.05)})
                         : bigger(ax.tickfont, base, AXIS_MIN);
      if (ax.title !== undefined && ax.title !== null) {
        if (typeof ax.title === "string") ax.title = {text: ax.title};
        ax.title.font = bigger(ax.title.font, base, AXIS_MIN + 1);
      }
    });
    if (!L.xaxis) L.xaxis = {tickfont: {size: Math.max(AXIS_MIN, base * FONT_K)}};
    if (!L.yaxis) L.yaxis = {tickfont: {size: Math.max(AXIS_MIN, base * FONT_K)}};
    // Many annotations (p-value brackets of a grid) sit close together: they grow less.
    var anns = L.annotations || [];
    var dense = Object.keys(L).filter(function (k) { return /^xaxis\d*$/.test(k); }).length > 4 || anns.length > 12;
    var annK = dense ? 1.1 / FONT_K : 1;
    anns.forEach(function (a) {
      a.font = Object.assign({}, a.font || {});
      a.font.size = Math.max(13, Math.round((a.font.size || base) * FONT_K * annK * 10) / 10);
      if (typeof a.yshift === "number" && Math.abs(a.yshift) >= 30) a.yshift = a.yshift * FONT_K;
    });
    Object.keys(L).forEach(function (k) {
      if (/^legend\d*$/.test(k) && L[k] && typeof L[k] === "object") L[k].font = bigger(L[k].font, base, 17);
    });
    L.hoverlabel = Object.assign({}, L.hoverlabel || {}, {font: bigger((L.hoverlabel || {}).font, 14, 18)});
    if (L.margin) {
      ["l", "r", "t", "b"].forEach(function (s) {
        if (typeof L.margin[s] === "number") L.margin[s] = Math.round(L.margin[s] * FONT_K);
      });
    }
    (fig.data || []).forEach(function (t) {
      var mode = t.mode || "";
      if (t.line && typeof t.line.width === "number") {
        t.line.width = t.line.width * LINE_K;
      } else if ((t.type === undefined || t.type === "scatter") && mode.indexOf("lines") >= 0) {
        t.line = Object.assign({}, t.line || {}, {width: 2 * LINE_K});
      }
      if (t.marker) {
        if (t.marker.size !== undefined) t.marker.size = scaleArray(t.marker.size, MARKER_K);
        if (t.marker.line && typeof t.marker.line.width === "number") t.marker.line.width *= 1.3;
      }
      if (t.textfont) {
        t.textfont = Object.assign({}, t.textfont);
        t.textfont.size = Math.max(dense ? 13 : 16, (t.textfont.size || base) * FONT_K * annK);
      }
      if (t.error_y && typeof t.error_y.thickness === "number") t.error_y.thickness *= LINE_K;
    });
    // Fit one figure or grid to the screen; a long figure (a timeline of every subject) stays long.
    var avail = availableHeight(gid);
    L.height = avail;  // every figure fits the window (assets/present.js keeps it fitted)
    L.autosize = true;
    // A long y title on a short panel goes on two lines rather than over the panel below.
    var plotH = L.height - ((L.margin && L.margin.t) || 80) - ((L.margin && L.margin.b) || 80);
    Object.keys(L).forEach(function (k) {
      var ax = L[k];
      if (!/^yaxis\d*$/.test(k) || !ax || !ax.title || typeof ax.title.text !== "string") return;
      var text = ax.title.text;
      var size = (ax.title.font && ax.title.font.size) || 19;
      var span = ax.domain ? ax.domain[1] - ax.domain[0] : 1;
      if (text.indexOf("<br>") >= 0 || text.length * size * 0.55 <= span * plotH) return;
      var mid = text.length / 2, cut = -1;
      for (var i = 0; i < text.length; i++) {
        if (text[i] === " " && (cut < 0 || Math.abs(i - mid) < Math.abs(cut - mid))) cut = i;
      }
      if (cut > 0) {
        ax.title.text = text.slice(0, cut) + "<br>" + text.slice(cut + 1);
        ax.automargin = true;
      }
    });
    // Many category rows (a timeline of every subject) share the fitted height: their labels stay apart.
    Object.keys(L).forEach(function (k) {
      var ax = L[k];
      if (!/^yaxis\d*$/.test(k) || !ax) return;
      var n = Math.max((ax.tickvals || []).length, (ax.categoryarray || []).length);
      if (n <= 12) return;
      var span = ax.domain ? ax.domain[1] - ax.domain[0] : 1;
      var row = span * plotH / n;
      ax.tickfont = Object.assign({}, ax.tickfont || {}, {size: Math.max(9, Math.min((ax.tickfont || {}).size || 18, Math.floor(row * 0.85)))});
    });
    L._presented = true;
    return fig;
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    views: {
      presentClass: function (on) {
        return on ? ["presenting", "Exit presentation", true] : ["", "Present", false];
      },

      presentFigure: function (fig, on, gid) {
        var nu = window.dash_clientside.no_update;
        if (!fig || typeof fig !== "object" || typeof gid !== "string") return nu;
        var mine = !!(fig.layout && fig.layout._presented);
        if (mine) {
          return on ? nu : (originals[gid] || nu);
        }
        if (!on) return nu;
        originals[gid] = fig;
        return presentedFigure(fig, gid);
      },

      copyLink: function (n) {
        var dc = window.dash_clientside;
        if (!n) return [dc.no_update, dc.no_update, dc.no_update];
        // the deck tray rides along when small enough (#deck=…, assets/figure_export.js)
        var url = window.location.href.split("#")[0] + (window.trialDeck ? window.trialDeck.linkHash() : "");
        var failed = "Copy this link (the browser did not allow access to the clipboard):";
        if (!navigator.clipboard || !window.isSecureContext) return [url, failed, true];
        return navigator.clipboard.writeText(url).then(
          function () { return [url, "Link to this view copied to the clipboard:", true]; },
          function () { return [url, failed, true]; }
        );
      }
    }
  });

  // ← / → step through the page's parameters while presenting (clicks the page's ◀ ▶ buttons).
  document.addEventListener("keydown", function (e) {
    if (e.key !== "ArrowLeft" && e.key !== "ArrowRight") return;
    if (e.altKey || e.ctrlKey || e.metaKey || e.shiftKey) return;
    if (!document.querySelector(".presenting")) return;
    var t = e.target;
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
    var btn = document.querySelector(e.key === "ArrowLeft" ? ".present-step-prev" : ".present-step-next");
    if (btn && !btn.disabled) {
      e.preventDefault();
      btn.click();
    }
  });

  // A click in the copied-link box selects the whole link, ready for Ctrl+C.
  document.addEventListener("focusin", function (e) {
    if (e.target && e.target.id === "copy-link-url" && e.target.select) e.target.select();
  });
})();
