/* Figure export with provenance: PNG (1920x1080 at 2x) and SVG of a dcc.Graph, client-side.
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
    toImage(btn.getAttribute("data-graph"), fmt).then(function (url) {
      save(url, name + "." + fmt);
    }).catch(function (err) {
      if (window.console) { window.console.warn("export failed: " + err.message); }
    }).then(function () { btn.disabled = false; });
  });

  window.trialFigureExport = {toImage: toImage};

  /* "Export deck" (components/deck.py): draw the server's figures of the other pages and the live
   * figure of this page at 1920x1080 and hand the PNGs back to the server, which builds the deck. */
  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    trialDeck: {
      render: function (request, imagesId) {
        var dc = window.dash_clientside;
        if (!request || !Array.isArray(request.figures) || !window.Plotly) { return dc.no_update; }
        var jobs = request.figures.map(function (f) {
          return render(f.figure || {}, "png", 1).then(function (url) { return [f.page, url]; });
        });
        jobs.push(toImage(request.graph, "png", 1).then(function (url) { return [request.current, url]; }));
        Promise.all(jobs).then(function (pairs) {
          var images = {};
          pairs.forEach(function (p) { images[p[0]] = p[1]; });
          dc.set_props(imagesId, {data: {token: request.token, images: images}});
        }).catch(function (err) {
          if (window.console) { window.console.warn("deck export failed: " + err.message); }
        });
        return "drawing " + (request.figures.length + 1) + " slides";
      }
    }
  });
})();
