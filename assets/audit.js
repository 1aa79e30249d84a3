/* The audit trail's view of exports the browser draws itself (README, "Blinded studies and audit").
 *
 * PNG and SVG exports (the strip under every figure, and plotly's camera button) are drawn here, from
 * the figure on screen: the server never sees them. This reports each one to the server
 * (POST /_audit/event), which writes the audit line with the user, role and view of the request.
 * A report, not an enforcement: a modified browser can leave it out (the server-made exports, CSV,
 * scripts, decks and reports, are recorded by the server itself).
 */
(function () {
  "use strict";

  function report(detail) {
    try {
      fetch("/_audit/event", {
        method: "POST", credentials: "same-origin", keepalive: true,
        headers: {"Content-Type": "application/json"}, body: JSON.stringify(detail)
      }).catch(function () { /* the export itself is not held up by the report */ });
    } catch (e) { /* an old browser without fetch: nothing to report with */ }
  }

  document.addEventListener("click", function (ev) {
    var el = ev.target && ev.target.closest ? ev.target : null;
    if (!el) { return; }
    var btn = el.closest(".fig-export");
    if (btn) {
      report({format: btn.getAttribute("data-format") === "svg" ? "svg" : "png",
              graph: btn.getAttribute("data-graph") || "", size: btn.getAttribute("data-size") || "screen",
              filename: btn.getAttribute("data-filename") || ""});
      return;
    }
    var cam = el.closest(".modebar-btn");
    if (cam && /^Download plot/i.test(cam.getAttribute("data-title") || "")) {
      var graph = cam.closest(".dash-graph");
      report({format: "png", graph: graph && graph.id ? graph.id : "", size: "modebar", filename: ""});
    }
  }, true);
})();
