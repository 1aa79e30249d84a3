/* Figure export with provenance: PNG (1920x1080 at 2x) and SVG of a dcc.Graph, client-side; the same
 * at slide size and typography ("PNG slide", "SVG slide": 16:9, 3840x2160, axis text 16 pt on the slide).
 *
 * A button with class "fig-export" and data-graph (the dcc.Graph id), data-format ("png" | "svg")
 * and data-filename exports that figure as it is shown. The caption strip written by
 * components.theme.stamp (annotation named "provenance") is part of the image; its
 * "made YYYY-MM-DD" becomes "exported <today>" so a cached figure never carries a stale date.
 * Loaded from the app's own origin (CSP: no inline script).
 */
(function () {
  "use strict";
  var WIDTH = 1920, HEIGHT = 1080, PNG_SCALE = 2;
  var CAPTION_FONT = 15, CAPTION_LINE = 19, CAPTION_SHIFT = 62;  /* px; theme.stamp: 12, 15, 62 */

  function graphDiv(graphId) {
    var host = document.getElementById(graphId);
    if (!host) { return null; }
    return host.classList.contains("js-plotly-plot") ? host : host.querySelector(".js-plotly-plot");
  }

  function today() {
    var d = new Date();
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate());
  }

  /* Deep copy of plain data (objects, arrays, typed arrays): the live figure is never changed. */
  function clone(v) {
    if (Array.isArray(v)) { return v.map(clone); }
    if (ArrayBuffer.isView(v)) { return v.slice(); }
    if (v && typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype) {
      var out = {};
      Object.keys(v).forEach(function (k) { out[k] = clone(v[k]); });
      return out;
    }
    return v;
  }

  function exportLayout(source) {
    var layout = clone(source || {});
    (layout.annotations || []).forEach(function (a) {
      if (a && a.name === "provenance" && typeof a.text === "string") {
        a.text = a.text.replace(/made \d{4}-\d{2}-\d{2}/, "exported " + today());
        /* On a 1920-px slide the caption gets the figure's body size; the bottom margin grows to hold it. */
        var lines = a.text.split("<br>").length;
        a.font = Object.assign({}, a.font || {}, {size: CAPTION_FONT});
        layout.margin = Object.assign({}, layout.margin || {});
        layout.margin.b = Math.max(layout.margin.b || 0, CAPTION_SHIFT + lines * CAPTION_LINE + 10);
      }
    });
    layout.width = WIDTH;
    layout.height = HEIGHT;
    return layout;
  }

  function render(figure, fmt, scale) {
    return window.Plotly.toImage({data: clone(figure.data || []), layout: exportLayout(figure.layout)},
      {format: fmt, width: WIDTH, height: HEIGHT, scale: fmt === "png" ? scale : 1});
  }

  /* Promise of a data URL of the figure in ``graphId`` ("png" or "svg"); ``scale`` for PNG (default 2). */
  function toImage(graphId, format, scale) {
    var gd = graphDiv(graphId);
    if (!gd || !window.Plotly || !gd.data) {
      return Promise.reject(new Error("figure " + graphId + " is not drawn yet"));
    }
    return render({data: gd.data, layout: gd.layout}, format === "svg" ? "svg" : "png", scale || PNG_SCALE);
  }

  function save(url, filename) {
    var a = document.createElement("a");
    a.href = url;
    a.download = filename;
    a.style.display = "none";
    document.body.appendChild(a);
    a.click();
    document.body.removeChild(a);
  }

  document.addEventListener("click", function (ev) {
    var btn = ev.target && ev.target.closest ? ev.target.closest(".fig-export") : null;
    if (!btn) { return; }
    ev.preventDefault();
    var fmt = btn.getAttribute("data-format") === "svg" ? "svg" : "png";
    var name = (btn.getAttribute("data-filename") || "figure").replace(/[^A-Za-z0-9._-]/g, "_");
    btn.disabled = true;
    var slide = btn.getAttribute("data-size") === "slide";
    (slide ? toSlideImage(btn.getAttribute("data-graph"), fmt) : toImage(btn.getAttribute("data-graph"), fmt)).then(function (url) {
      save(url, name + "." + fmt);
    }).catch(function (err) {
      if (window.console) { window.console.warn("export failed: " + err.message); }
    }).then(function () { btn.disabled = false; });
  });

  window.trialFigureExport = {toImage: toImage};

  /* "PNG slide" / "SVG slide": the figure at slide typography on a 13.33 x 7.5 in slide laid out as
   * 960 x 540 px (1 px = 1 pt): ticks 16 pt, axis titles 18, legend 16 (components/pictures.py does the
   * same on the server for the deck); PNG at 4x = 3840 x 2160. */
  var SLIDE = {w: 960, h: 540, scale: 4, base: 16, axis: 16, title: 18, legend: 16, ann: 13, caption: 10};

  function grow(font, min, k) {
    var f = Object.assign({}, font || {});
    f.size = Math.max(min, Math.round(((f.size || SLIDE.base) * (k || 1)) * 10) / 10);
    return f;
  }

  function slideFigure(figure) {
    var data = clone(figure.data || []);
    var L = clone(figure.layout || {});
    var lines = 0;
    var below = 0;
    (L.annotations || []).forEach(function (a) {
      if (a && a.name === "provenance" && typeof a.text === "string") {
        a.text = a.text.replace(/made \d{4}-\d{2}-\d{2}/, "exported " + today());
        a.font = grow(a.font, SLIDE.caption, 1);
        a.yshift = -50;
        lines = a.text.split("<br>").length;
      } else if (a) {
        a.font = grow(a.font, SLIDE.ann, 1.15);
        if (a.yref === "paper" && typeof a.y === "number" && a.y <= 0 && typeof a.yshift === "number" && a.yshift < 0) {
          a.yshift *= 1.15;
          below = Math.max(below, -a.yshift + a.font.size * 1.3 * String(a.text || "").split("<br>").length + 6);
        }
      }
    });
    L.font = grow(L.font, SLIDE.base, 1);
    Object.keys(L).forEach(function (k) {
      var ax = L[k];
      if (/^[xy]axis\d*$/.test(k) && ax && typeof ax === "object") {
        ax.tickfont = grow(ax.tickfont, SLIDE.axis, 1);
        if (ax.title !== undefined && ax.title !== null) {
          if (typeof ax.title === "string") ax.title = {text: ax.title};
          ax.title.font = grow(ax.title.font, SLIDE.title, 1);
        }
        ax.automargin = true;
      }
      if (/^legend\d*$/.test(k) && L[k] && typeof L[k] === "object") L[k].font = grow(L[k].font, SLIDE.legend, 1);
    });
    data.forEach(function (t) { if (t.textfont) t.textfont = grow(t.textfont, 14, 1); });
    var m = L.margin || {};
    L.margin = {l: Math.min(m.l || 60, 200), r: Math.min(m.r || 20, 240), t: Math.min(Math.max(m.t || 40, 40), 110),
                b: Math.max(45, below) + 60 + 14 * lines};
    L.width = SLIDE.w;
    L.height = SLIDE.h;
    L.autosize = false;
    return {data: data, layout: L};
  }

  function toSlideImage(graphId, format) {
    var gd = graphDiv(graphId);
    if (!gd || !window.Plotly || !gd.data) {
      return Promise.reject(new Error("figure " + graphId + " is not drawn yet"));
    }
    var fig = slideFigure({data: gd.data, layout: gd.layout});
    var fmt = format === "svg" ? "svg" : "png";
    return window.Plotly.toImage(fig, {format: fmt, width: SLIDE.w, height: SLIDE.h, scale: fmt === "png" ? SLIDE.scale : 1});
  }

  window.trialFigureExport.toSlideImage = toSlideImage;

  /* The deck tray (components/deck.py): a short-lived notice after "Add to deck", and the tray in a copied
   * link (assets/views.js asks for it) when it is small enough. */
  window.trialDeck = {
    linkHash: function () {
      var items;
      try { items = JSON.parse(window.localStorage.getItem("deck-tray") || "[]"); } catch (e) { return ""; }
      if (!Array.isArray(items) || !items.length) return "";
      var slim = items.map(function (it) { return [it.page, it.part, it.query, it.custom || ""]; });
      var json = JSON.stringify(slim);
      var b64 = window.btoa(unescape(encodeURIComponent(json))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
      var hash = "#deck=" + b64;
      return hash.length <= 1800 ? hash : "";
    }
  };
  var flashTimer = null;
  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    trialDeck: {
      flash: function (text) {
        if (flashTimer) { window.clearTimeout(flashTimer); }
        if (!text) return "deck-flash ms-2";
        flashTimer = window.setTimeout(function () {
          var el = document.getElementById("deck-flash");
          if (el) el.className = "deck-flash ms-2 deck-flash-done";
        }, 6000);
        return "deck-flash ms-2 deck-flash-on";
      }
    }
  });
})();
