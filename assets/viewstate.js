/* The URL is the view: filters, each page's controls and presentation mode, kept in step in the browser.
 *
 * Clientside callbacks (namespace "viewstate", wired in components/shell.py): none of them sends a request.
 * - fromUrl: the URL -> the filter controls, the filter store the pages listen to, the filter chips and
 *   subject counts, the notices for what a link held that this app does not offer, presentation mode, the
 *   navigation links (each page's link carries the filters and that page's last view in this tab).
 * - the arm boxes and the timepoint window (a change event, no callback), filtersToUrl (the patient picker),
 *   pageToUrl, togglePresent: a control -> the URL. A user's action makes a new history
 *   entry (Back undoes it); what follows from it without a new action (a page callback resolving a
 *   visit, a link made canonical) replaces the entry, so Back never lands on a view that moves on.
 * - applyPage: the URL -> the page's controls (Back/Forward within a page).
 * The rules (allowed values, defaults, the canonical order) are the server's (components/viewstate.py,
 * client_spec); the server validates every value again, in the router and in every page callback.
 * Loaded from /assets (CSP: no inline script).
 */
(function () {
  "use strict";

  var FILTER_KEYS = ["arm", "weeks", "patient"];
  var PRESENT = "present";
  var MAX_ITEMS = 500;
  var lastInput = 0;        /* time of the user's last action (click, change, typing, a key that acts) */
  var lastWrite = -1;       /* time of the last URL write */
  var selfWritten = null;   /* the query this script last made canonical (its notices stay up) */
  var shownNotices = [];
  var noticeAt = -1;        /* time the notices in view were shown */
  var lastEvent = 0;        /* the user's last action or Back/Forward: what closes a link's notices */

  function now() { return window.performance ? window.performance.now() : Date.now(); }
  function markInput() { lastInput = now(); lastEvent = lastInput; }
  ["click", "change", "input"].forEach(function (ev) { document.addEventListener(ev, markInput, true); });
  var ACTING_KEYS = /^(Enter| |Spacebar|Arrow.*|Home|End|PageUp|PageDown|Delete|Backspace|.)$/;
  document.addEventListener("keydown", function (e) {
    if (e.key !== "Tab" && e.key !== "Shift" && ACTING_KEYS.test(e.key)) markInput();
  }, true);
  /* Back / Forward: what the page does to settle on that entry replaces it, never pushes a new one. */
  window.addEventListener("popstate", function () { lastEvent = now(); lastWrite = now() + 1; });

  /* The skip link moves focus to the page without putting "#page-content" in the URL. */
  document.addEventListener("click", function (e) {
    var a = e.target && e.target.closest ? e.target.closest("a.skip-link") : null;
    if (!a) return;
    var main = document.getElementById("page-content");
    if (!main) return;
    e.preventDefault();
    main.focus();
    main.scrollIntoView();
  });

  function nu() { return window.dash_clientside.no_update; }

  /* -- query text, as Python's parse_qsl / urlencode(safe=",") read and write it --------------------------- */
  function dec(s) {
    try { return decodeURIComponent(s.replace(/\+/g, " ")); } catch (e) { return s; }
  }
  function enc(s) {
    return encodeURIComponent(String(s)).replace(/%20/g, "+").replace(/%2C/gi, ",")
      .replace(/[!'()*]/g, function (c) { return "%" + c.charCodeAt(0).toString(16).toUpperCase(); });
  }
  function pairs(search, spec) {
    var q = (typeof search === "string" ? search : "").replace(/^\?/, "");
    if (!q) return {pairs: [], tooMany: false};
    var parts = q.split("&");
    if (parts.length > spec.max_fields) return {pairs: [], tooMany: true};
    var out = [];
    parts.forEach(function (part) {
      if (!part) return;
      var i = part.indexOf("=");
      out.push([dec(i < 0 ? part : part.slice(0, i)), dec(i < 0 ? "" : part.slice(i + 1))]);
    });
    return {pairs: out, tooMany: false};
  }
  function compose(list) {
    if (!list.length) return "";
    return "?" + list.map(function (p) { return enc(p[0]) + "=" + enc(p[1]); }).join("&");
  }
  function num(v) {  /* Python's f"{v:g}" for the numbers of a time axis */
    var x = Number(v);
    if (!isFinite(x)) return String(v);
    return String(Number(x.toPrecision(6)));
  }
  function clip(s) { return String(s).slice(0, 40); }

  /* -- values ---------------------------------------------------------------------------------------------- */
  function same(a, b) {
    if (typeof a === "boolean" || typeof b === "boolean") return a === b;
    if (typeof a === "number" && typeof b === "number") return a === b;
    return typeof a === typeof b && a === b;
  }
  function cleanText(v, max) {
    if (v === null || v === undefined) return "";
    if (typeof v !== "string") return null;
    return v.split(/\s+/).filter(Boolean).join(" ").slice(0, max);
  }
  function equal(c, a, b) {
    if (c.text) return cleanText(a, c.text) === cleanText(b, c.text);
    if (c.multi) {
      if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
      for (var i = 0; i < a.length; i++) if (!same(a[i], b[i])) return false;
      return true;
    }
    return same(a, b);
  }
  function tokenMap(c, spec) {
    if (c._map) return c._map;
    var m = {};
    if (c.tokens === "subjects") Object.keys(spec.subjects).forEach(function (u) { m[u] = u; });
    else (c.tokens || []).forEach(function (p) { m[p[0]] = p[1]; });
    c._map = m;
    return m;
  }
  function decodeValue(c, text, spec) {
    if (c.text) return text.length <= 4 * c.text ? {ok: true, value: cleanText(text, c.text)} : {ok: false};
    var m = tokenMap(c, spec);
    if (c.multi) {
      var parts = text ? text.split(",").filter(Boolean) : [];
      if (parts.length > Object.keys(m).length) return {ok: false};
      var seen = {}, out = [];
      for (var i = 0; i < parts.length; i++) {
        if (!Object.prototype.hasOwnProperty.call(m, parts[i])) return {ok: false};
        if (!seen[parts[i]]) { seen[parts[i]] = true; out.push(m[parts[i]]); }
      }
      return {ok: true, value: out};
    }
    if (text === "" || !Object.prototype.hasOwnProperty.call(m, text)) return {ok: false};
    return {ok: true, value: m[text]};
  }
  function token(c, value, spec) {
    var m = tokenMap(c, spec);
    for (var t in m) if (Object.prototype.hasOwnProperty.call(m, t) && same(m[t], value)) return t;
    return null;
  }
  function encodeValue(c, value, spec) {
    if (c.text) return cleanText(value, c.text);
    if (c.multi) {
      if (!Array.isArray(value)) return null;
      var toks = value.map(function (v) { return token(c, v, spec); });
      return toks.some(function (t) { return t === null; }) ? null : toks.join(",");
    }
    if (value === null || value === undefined) return "";
    return token(c, value, spec);
  }

  /* -- the whole view of a URL --------------------------------------------------------------------------- */
  function pageOfPath(spec, pathname) {
    var path = typeof pathname === "string" ? pathname : "/";
    for (var i = 0; i < spec.order.length; i++) {
      if (spec.pages[spec.order[i]].path === path) return spec.order[i];
    }
    return null;
  }
  function fullWindow(spec) {
    var v = spec.visits;
    return v.length ? [v[0], v[v.length - 1]] : [0, 0];
  }
  function cleanFilters(spec, arms, weeks, patients) {
    /* arms, patients: lists of strings or null; weeks: [lo, hi] numbers, a "lo-hi" text or null */
    var notices = [], tw = spec.time_word;
    var codes = spec.arms.map(function (a) { return a.code; });
    var outArms = [];
    if (arms && arms.length > MAX_ITEMS) notices.push("Arm filter ignored: not a list of arms");
    else if (arms) {
      var bad = arms.filter(function (a) { return codes.indexOf(a) < 0; });
      if (bad.length) notices.push("Unknown arm ignored: " + bad.slice(0, 5).map(clip).join(", "));
      outArms = codes.filter(function (c) { return arms.indexOf(c) >= 0; });
      if (outArms.length === codes.length) outArms = [];
    }
    var win = fullWindow(spec);
    if (weeks !== null && weeks !== undefined) {
      var lo, hi, ok = true;
      if (typeof weeks === "string") {
        var i = weeks.indexOf("-");
        if (i < 0) ok = false;
        else {
          var a = weeks.slice(0, i).trim(), b = weeks.slice(i + 1).trim();
          lo = a === "" ? NaN : Number(a); hi = b === "" ? NaN : Number(b);
          ok = isFinite(lo) && isFinite(hi);
        }
      } else { lo = weeks[0]; hi = weeks[1]; }
      if (!ok) notices.push("Timepoint window ignored: '" + clip(weeks) + "' is not a " + tw + " range");
      else if (spec.visits.indexOf(lo) < 0 || spec.visits.indexOf(hi) < 0) {
        notices.push("Timepoint window ignored: " + tw + "s " + num(lo) + "–" + num(hi) + " are not both scheduled visits");
      } else if (lo > hi) {
        notices.push("Timepoint window ignored: it starts (" + tw + " " + num(lo) + ") after it ends (" + tw + " " + num(hi) + ")");
      } else win = [lo, hi];
    }
    var outPatients = [];
    if (patients && patients.length > MAX_ITEMS) notices.push("Patient filter ignored: not a list of patients");
    else if (patients) {
      var badP = patients.filter(function (p) { return !Object.prototype.hasOwnProperty.call(spec.subjects, p); });
      if (badP.length) notices.push("Unknown patient ignored: " + badP.slice(0, 5).map(clip).join(", "));
      var seen = {};
      patients.forEach(function (p) {
        if (Object.prototype.hasOwnProperty.call(spec.subjects, p) && !seen[p]) { seen[p] = true; outPatients.push(p); }
      });
      outPatients.sort();
    }
    return {state: {arms: outArms, weeks: win, patients: outPatients}, notices: notices};
  }
  function filterPairs(spec, st) {
    var out = [];
    var full = fullWindow(spec);
    if (st.arms.length) out.push(["arm", st.arms.join(",")]);
    if (st.weeks[0] !== full[0] || st.weeks[1] !== full[1]) out.push(["weeks", num(st.weeks[0]) + "-" + num(st.weeks[1])]);
    if (st.patients.length) out.push(["patient", st.patients.join(",")]);
    return out;
  }
  function controlsOf(spec, pid) { return pid && spec.pages[pid] ? spec.pages[pid].controls : []; }
  function pagePairs(spec, pid, values) {
    var out = [];
    controlsOf(spec, pid).forEach(function (c) {
      if (!Object.prototype.hasOwnProperty.call(values, c.key)) return;
      var v = values[c.key];
      if (equal(c, v, c.default)) return;
      var t = encodeValue(c, v, spec);
      if (t !== null) out.push([c.key, t]);
    });
    return out;
  }
  /* Everything a URL says, validated: {state, page values, present, notices, canonical query}. */
  function parse(spec, search, pid) {
    var got = pairs(search, spec), ps = got.pairs;
    var notices = got.tooMany ? ["Link ignored: it has more parts than a link of this app"] : [];
    var arms = null, patients = null, weeks = null;
    ps.forEach(function (p) {
      if (p[0] === "arm" && p[1]) arms = (arms || []).concat(p[1].split(",").filter(Boolean));
      if (p[0] === "patient" && p[1]) patients = (patients || []).concat(p[1].split(",").filter(Boolean));
      if (p[0] === "weeks" && p[1]) weeks = p[1];
    });
    var f = cleanFilters(spec, arms, weeks, patients);
    notices = notices.concat(f.notices);
    var ctl = controlsOf(spec, pid), byKey = {}, values = {};
    ctl.forEach(function (c) { byKey[c.key] = c; });
    ps.forEach(function (p) {
      var c = byKey[p[0]];
      if (!c) return;
      var d = decodeValue(c, p[1], spec);
      if (d.ok) values[c.key] = d.value;
      else notices.push("Unknown " + p[0] + " ignored: " + clip(p[1]));
    });
    var present = false, flags = ps.filter(function (p) { return p[0] === PRESENT; });
    if (flags.length) {
      var last = flags[flags.length - 1][1];
      if (last === "1" || last === "0") present = last === "1";
      else notices.push("Presentation flag ignored: " + clip(last));
    }
    ps.forEach(function (p) {
      if (FILTER_KEYS.indexOf(p[0]) < 0 && p[0] !== PRESENT && !byKey[p[0]]) {
        notices.push("Link parameter ignored: " + clip(p[0]));
      }
    });
    var tail = pagePairs(spec, pid, values).concat(present ? [[PRESENT, "1"]] : []);
    return {state: f.state, values: values, present: present, notices: notices,
            query: compose(filterPairs(spec, f.state).concat(tail)), pagePart: pagePairs(spec, pid, values)};
  }

  /* -- writing the URL -------------------------------------------------------------------------------------- */
  function go(query) {
    var cur = window.location.search || "";
    if (query === cur) return;
    var url = window.location.pathname + query + window.location.hash;
    if (lastInput > lastWrite) window.history.pushState({}, "", url);
    else window.history.replaceState({}, "", url);
    lastWrite = now();
    /* dcc.Location reads window.location on this event (as after a dcc.Link): the URL callback follows */
    window.setTimeout(function () { window.dispatchEvent(new CustomEvent("_dashprivate_pushstate")); }, 0);
  }
  function currentPage(spec) { return pageOfPath(spec, window.location.pathname); }

  /* -- the filter bar -> the URL ------------------------------------------------------------------------------ */
  function barToUrl(arms, from, to, patients, spec) {
    /* patients: the picker's value, or null for the patients the link already has */
    var pid = currentPage(spec);
    var cur = parse(spec, window.location.search, pid);
    var lo = Number(from), hi = Number(to);
    if (isFinite(lo) && isFinite(hi) && lo > hi) { var t = lo; lo = hi; hi = t; }
    if (patients === null) patients = cur.state.patients;
    var f = cleanFilters(spec, Array.isArray(arms) ? arms : [], [lo, hi], Array.isArray(patients) ? patients : []);
    go(compose(filterPairs(spec, f.state).concat(cur.pagePart).concat(cur.present ? [[PRESENT, "1"]] : [])));
  }
  /* The arm boxes and the timepoint window are native inputs: their change writes the URL at once, and the
     URL callback does the rest. Through a Dash callback it was one more round of the renderer (~15 ms of a
     click) before the page's request could leave. Unticking the last arm leaves no arm in the link, which
     is every arm, and the URL callback ticks them all again. The patient picker goes through Dash. */
  var specNow = null;       /* the view spec, as the URL callback last had it */
  document.addEventListener("change", function (e) {
    var t = e.target;
    if (!specNow || !t || !t.closest || !t.closest("#f-arm, #f-from, #f-to")) return;
    var arms = Array.prototype.map.call(document.querySelectorAll("#f-arm input:checked"), function (i) {
      return i.value;
    });
    var from = document.getElementById("f-from"), to = document.getElementById("f-to");
    barToUrl(arms, from ? from.value : null, to ? to.value : null, null, specNow);
  });

  /* -- what the filter bar shows ---------------------------------------------------------------------------- */
  function armByCode(spec, code) {
    for (var i = 0; i < spec.arms.length; i++) if (spec.arms[i].code === code) return spec.arms[i];
    return null;
  }
  var GLYPHS = ["●", "■", "◆", "▲", "✕", "★"];
  function span(children, props) {
    return {type: "Span", namespace: "dash_html_components", props: Object.assign({children: children}, props || {})};
  }
  function filterText(spec, st) {
    var arms = st.arms.length ? st.arms.map(function (c) { return armByCode(spec, c).label; }).join(", ") : "all arms";
    var weeks = spec.time_word + "s " + num(st.weeks[0]) + "–" + num(st.weeks[1]);
    var pts = st.patients.length ? st.patients.join(", ") : "all patients";
    return arms + "; " + weeks + "; " + pts;
  }
  function summary(spec, st) {
    var arms = st.arms.length ? st.arms.map(function (c) { return armByCode(spec, c).label; }).join(", ") : "All arms";
    var weeks = spec.time_word + "s " + num(st.weeks[0]) + "–" + num(st.weeks[1]);
    var n = st.patients.length;
    var pts = n === 0 ? "all patients" : n === 1 ? "1 patient: " + st.patients[0] :
      n + " patients: " + st.patients.slice(0, 3).join(", ") + (n > 3 ? ", …" : "");
    return arms + " · " + weeks + " · " + pts;
  }
  function counts(spec, st) {
    var chosen = {};
    st.patients.forEach(function (p) { chosen[spec.subjects[p]] = (chosen[spec.subjects[p]] || 0) + 1; });
    return spec.arms.map(function (a, i) {
      if (st.arms.length && st.arms.indexOf(a.code) < 0) return null;
      var n = st.patients.length ? (chosen[a.code] || 0) : a.n;
      return span([span(GLYPHS[i % GLYPHS.length], {className: "arm-glyph", style: {color: a.colour},
                                                     "aria-hidden": "true"}), a.label + ": " + n],
                  {className: "arm-chip"});
    }).filter(Boolean);
  }
  function sameJson(a, b) { return JSON.stringify(a) === JSON.stringify(b); }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    viewstate: {
      fromUrl: function (search, pathname, spec, memory, store, presenting) {
        var N = nu();
        specNow = spec;
        var pid = pageOfPath(spec, pathname);
        var v = parse(spec, search, pid);
        var st = v.state;
        var ours = selfWritten !== null && (search || "") === selfWritten;
        if (v.query !== (search || "")) {
          /* the canonical link: what was invalid is dropped, in place (no new history entry) */
          selfWritten = v.query;
          window.history.replaceState({}, "", window.location.pathname + v.query + window.location.hash);
          window.setTimeout(function () { window.dispatchEvent(new CustomEvent("_dashprivate_pushstate")); }, 0);
        }
        var notices = v.notices.slice();
        var armOf = spec.subjects;
        var outside = st.patients.filter(function (p) { return st.arms.length && st.arms.indexOf(armOf[p]) < 0; });
        if (outside.length) {
          notices.push("Chosen patient(s) outside the arm filter: " + outside.slice(0, 5).join(", ") + ". Pages that " +
                       "count chosen patients only (Overview, Safety) show none of them; trajectory and box pages " +
                       "show the selected arms without them.");
        }
        var noticeKids = N, noticeOpen = N;
        if (!notices.length && shownNotices.length && (ours || lastEvent <= noticeAt)) {
          /* our own canonical rewrite, or a page settling on the link's view (a default patient written to
             the URL): the notices of the link stay up until the user acts */
        } else if (notices.length || shownNotices.length) {
          if (!sameJson(notices, shownNotices)) {
            noticeKids = notices.length ? notices.map(function (t) {
              return {type: "Div", namespace: "dash_html_components", props: {children: t}};
            }) : null;
            noticeOpen = notices.length > 0;
            if (notices.length) noticeAt = now();
          }
          shownNotices = notices;
        }
        var newStore = {arms: st.arms, weeks: st.weeks, patients: st.patients};
        var fp = filterPairs(spec, st);
        /* the page's last view in this tab; a patient's profile follows the patients chosen since */
        var mem = Object.assign({}, memory || {});
        var patKey = st.patients.join(",");
        if (pid) mem[pid] = {pairs: v.pagePart, patients: patKey};
        var memOut = sameJson(mem, memory || {}) ? N : mem;
        var hrefs = spec.order.map(function (id) {
          var m = mem[id], tail = m && Array.isArray(m.pairs) ? m.pairs : [];
          if (id === "patient" && m && m.patients !== patKey) {
            tail = tail.filter(function (p) { return p[0] !== "subject"; });
          }
          return spec.pages[id].path + compose(fp.concat(tail).concat(v.present ? [[PRESENT, "1"]] : []));
        });
        var plink = spec.pages.patient && st.patients.length && pid !== "patient";
        var plHref = plink ? spec.pages.patient.path + compose(fp.concat([["subject", st.patients[0]]])
                                                                 .concat(v.present ? [[PRESENT, "1"]] : [])) : "/";
        return [
          sameJson(newStore, store) ? N : newStore,
          noticeKids, noticeOpen,
          v.present === presenting ? N : v.present,
          summary(spec, st), counts(spec, st),
          plHref, plink ? {} : {display: "none"},
          "Filters: " + filterText(spec, st),
          memOut
        ].concat(hrefs);
      },

      patientAudit: function (store, last) {
        /* [{before, after} when the filter gains a patient (the server's audit trail records it; a link that
           opens with patients counts), else no update; the filter as it now is] */
        var N = nu();
        var seen = last && Array.isArray(last.patients) ? last.patients : [];
        var now = store && Array.isArray(store.patients) ? store.patients : [];
        var gained = now.some(function (p) { return seen.indexOf(p) < 0; });
        return [gained ? {before: last || null, after: store} : N, sameJson(last, store) ? N : store];
      },

      filterControls: function (store, spec, arms, from, to, patients) {
        /* the filter store (set from the URL) -> the filter controls, where they differ */
        var N = nu();
        if (!store || !spec) return [N, N, N, N];
        var allCodes = spec.arms.map(function (a) { return a.code; });
        var wantArms = store.arms && store.arms.length ? store.arms : allCodes;
        var wantFrom = num(store.weeks[0]), wantTo = num(store.weeks[1]);
        var have = Array.isArray(arms) ? allCodes.filter(function (c) { return arms.indexOf(c) >= 0; }) : null;
        return [
          sameJson(have, wantArms) ? N : wantArms,
          from === wantFrom ? N : wantFrom,
          to === wantTo ? N : wantTo,
          sameJson(patients || [], store.patients || []) ? N : store.patients
        ];
      },

      filtersToUrl: function (patients, arms, from, to, spec) {
        barToUrl(arms, from, to, Array.isArray(patients) ? patients : [], spec);  /* cleared: no patient */
        return nu();
      },

      togglePresent: function (n, spec) {
        if (!n) return nu();
        var cur = parse(spec, window.location.search, currentPage(spec));
        markInput();
        go(compose(filterPairs(spec, cur.state).concat(cur.pagePart).concat(cur.present ? [] : [[PRESENT, "1"]])));
        return nu();
      },

      applyPage: function () {
        var args = Array.prototype.slice.call(arguments);
        var search = args[0], pid = args[1], spec = args[2], current = args.slice(3);
        var N = nu();
        var ctl = controlsOf(spec, pid);
        if (!ctl.length || currentPage(spec) !== pid) return ctl.map(function () { return N; });
        var v = parse(spec, search, pid);
        return ctl.map(function (c, i) {
          var want = Object.prototype.hasOwnProperty.call(v.values, c.key) ? v.values[c.key] : c.default;
          return equal(c, current[i], want) ? N : want;
        });
      },

      pageToUrl: function () {
        var args = Array.prototype.slice.call(arguments);
        var spec = args[args.length - 1], pid = args[args.length - 2], vals = args.slice(0, -2);
        if (!spec || currentPage(spec) !== pid) return nu();
        var ctl = controlsOf(spec, pid), values = {};
        ctl.forEach(function (c, i) { values[c.key] = vals[i]; });
        var cur = parse(spec, window.location.search, pid);
        go(compose(filterPairs(spec, cur.state).concat(pagePairs(spec, pid, values))
                   .concat(cur.present ? [[PRESENT, "1"]] : [])));
        return nu();
      }
    }
  });

  /* for tests and tools: the parser as the callbacks use it */
  window.trialViewState = {parse: parse, compose: compose, cleanFilters: cleanFilters};
})();

/* Page helpers that need no server: the AE listing's count and quick search (components/safety.py). */
(function () {
  "use strict";
  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    safety: {
      count: function (virtual, rows) {
        var total = Array.isArray(rows) ? rows.length : 0;
        var shown = Array.isArray(virtual) ? virtual.length : total;
        return Math.min(shown, total) + " of " + total + " adverse events shown";
      },
      quickSearch: function (value, options) {
        var text = typeof value === "string" ? value.split(/\s+/).filter(Boolean).join(" ").slice(0, 80) : "";
        var opts = Object.assign({}, options || {});
        if ((opts.quickFilterText || "") === text) return window.dash_clientside.no_update;
        opts.quickFilterText = text;
        return opts;
      }
    }
  });
})();

/* Show code (components/figure_tools.py): the view's values go to the server only while the panel is open. */
(function () {
  "use strict";
  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    figureTools: {
      codeGate: function (isOpen) {
        if (isOpen !== true) return window.dash_clientside.no_update;
        return Array.prototype.slice.call(arguments, 1);
      }
    }
  });
})();
