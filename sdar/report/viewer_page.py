"""The trajectory viewer's page: static HTML, CSS and JavaScript, with one placeholder for the data.

`viewer.write_viewer` replaces `__SDAR_DATA__` with script-safe JSON. The script builds every element
with `createElement` and `textContent`, never `innerHTML`, so model output is always text, never markup.
The Content-Security-Policy allows no network request and no external asset. After the first render the
page checks itself and sets `document.title` to `sdar-viewer-ok:<episodes>` (or `sdar-viewer-error:…`,
then rethrows), which the headless-browser test reads.
"""

PAGE = r"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy"
      content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sdar viewer</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1100px; padding: 0 16px 40px; color: #1d1d1f; }
h1 { font-size: 20px; margin: 18px 0 2px; }
.meta, .note { color: #555; font-size: 13px; }
.bar { display: flex; flex-wrap: wrap; gap: 12px; align-items: center; margin: 12px 0; padding: 8px 10px;
       background: #f4f5f7; border-radius: 6px; }
.bar label { font-size: 13px; }
table.summary { border-collapse: collapse; margin: 8px 0; font-size: 13px; }
table.summary th, table.summary td { border: 1px solid #ddd; padding: 3px 10px; text-align: right; }
table.summary th:first-child, table.summary td:first-child { text-align: left; }
table.summary button { border: 0; background: none; color: #0645ad; cursor: pointer; font: inherit; padding: 0; }
details.episode { border: 1px solid #d7d9de; border-radius: 6px; margin: 6px 0; background: #fff; }
details.episode > summary { cursor: pointer; padding: 6px 10px; }
details.episode[open] > summary { border-bottom: 1px solid #e3e5e8; background: #fafbfc; }
.badge { display: inline-block; border-radius: 4px; padding: 0 6px; font-size: 12px; font-weight: 600; }
.won { background: #d9f2e1; color: #176b34; } .lost { background: #fbe0e0; color: #8f1d1d; }
.ep-body { padding: 6px 12px 10px; }
.turn { border-left: 3px solid #c9d2e3; margin: 10px 0; padding: 2px 0 2px 10px; }
.turn-head { font-size: 13px; color: #333; }
.turn-head code, .env code { background: #eef0f3; border-radius: 3px; padding: 0 4px; }
.invalid { color: #8f1d1d; font-weight: 600; } .valid { color: #176b34; font-weight: 600; }
pre { white-space: pre-wrap; word-break: break-word; background: #f7f7f9; padding: 6px 8px; border-radius: 4px;
      font-size: 12px; margin: 4px 0; max-height: 360px; overflow: auto; }
.response { font: 13px/1.9 ui-monospace, SFMono-Regular, Menlo, monospace; white-space: pre-wrap;
            word-break: break-word; margin: 6px 0; }
.tok { border-bottom: 3px solid transparent; box-shadow: inset -1px 0 0 rgba(0,0,0,.12); }
.tok:hover { outline: 1px solid #333; }
.scale { display: inline-block; width: 160px; height: 12px; vertical-align: middle; border: 1px solid #ccc;
         background: linear-gradient(to right, rgba(215,40,40,.85), #fff, rgba(20,150,60,.85)); }
.gate-demo { border-bottom: 3px solid rgba(40,80,220,1); padding: 0 3px; }
</style>
</head>
<body>
<h1>sdar trajectory viewer</h1>
<div class="meta" id="meta"></div>
<div class="bar" id="legend"></div>
<table class="summary" id="summary"></table>
<div class="bar" id="filters"></div>
<div class="note" id="count"></div>
<div id="episodes"></div>
<script type="application/json" id="sdar-data">__SDAR_DATA__</script>
<script>
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("sdar-data").textContent);
  var episodes = data.episodes;
  var state = { type: "", outcome: "", step: "", text: "", scale: defaultScale() };

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function add(parent) {
    for (var i = 1; i < arguments.length; i++) {
      var c = arguments[i];
      parent.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    }
    return parent;
  }
  function num(x, digits) { return typeof x === "number" ? x.toFixed(digits) : "–"; }
  function signed(x, digits) { return typeof x === "number" ? (x >= 0 ? "+" : "") + x.toFixed(digits) : "–"; }
  function mean(xs) {
    var v = xs.filter(function (x) { return typeof x === "number"; });
    return v.length ? v.reduce(function (a, b) { return a + b; }, 0) / v.length : null;
  }
  function allTurns() { return [].concat.apply([], episodes.map(function (e) { return e.turns; })); }
  function defaultScale() {
    var gaps = [].concat.apply([], allTurns().map(function (t) { return t.gap || []; }))
      .filter(function (x) { return typeof x === "number"; }).map(Math.abs).sort(function (a, b) { return a - b; });
    return gaps.length ? Math.max(gaps[Math.floor(0.95 * (gaps.length - 1))], 1e-3) : 1;
  }

  function gapColor(gap) {
    if (typeof gap !== "number") return "transparent";
    var t = Math.max(-1, Math.min(1, gap / state.scale));
    return t >= 0 ? "rgba(20,150,60," + (0.85 * t).toFixed(3) + ")" : "rgba(215,40,40," + (-0.85 * t).toFixed(3) + ")";
  }
  function paint(span) {
    var gap = span.dataset.gap === "" ? null : Number(span.dataset.gap);
    span.style.backgroundColor = gapColor(gap);
    if (span.dataset.gate !== "") {
      span.style.borderBottomColor = "rgba(40,80,220," + Number(span.dataset.gate).toFixed(3) + ")";
    }
  }
  function tokenSpan(tok, gap, gate) {
    var shown = tok === "" ? "\u2205" : tok.replace(/\n/g, "\u21b5\n");
    var span = el("span", "tok", shown);
    span.dataset.gap = typeof gap === "number" ? String(gap) : "";
    span.dataset.gate = typeof gate === "number" ? String(gate) : "";
    span.title = "token " + JSON.stringify(tok) + "\ngap lt \u2212 ls " + signed(gap, 4) + "\ngate " + num(gate, 4);
    paint(span);
    return span;
  }

  function renderTurn(t) {
    var box = el("div", "turn");
    var head = add(el("div", "turn-head"), "turn " + (t.turn + 1) + " \u00b7 action ",
      t.action === null || t.action === undefined ? el("em", null, "none parsed") : el("code", null, t.action), " ",
      el("span", t.valid ? "valid" : "invalid", t.valid ? "valid" : "invalid"),
      " \u00b7 reward " + num(t.reward, 3) + " \u00b7 advantage " + signed(t.advantage, 3));
    var prompt = add(el("details"), el("summary", null, "prompt (observation, history, admissible actions)"),
      el("pre", null, t.prompt || ""));
    var response = el("div", "response");
    var tokens = t.tokens || [];
    for (var i = 0; i < tokens.length; i++) {
      response.appendChild(tokenSpan(String(tokens[i]), (t.gap || [])[i], (t.gate || [])[i]));
    }
    if (!tokens.length) response.appendChild(el("span", null, t.response || ""));
    var env = add(el("div", "env"), "environment: ", el("code", null, t.observation || ""));
    return add(box, head, prompt, add(el("div", "note"), "response (" + tokens.length + " tokens)"), response, env);
  }

  function renderBody(ep) {
    var body = el("div", "ep-body");
    add(body, add(el("div", "note"), "goal: ", el("strong", null, ep.goal || "")));
    if (ep.privileged) {
      var budget = data.run.context_tokens
        ? " (it reads at most " + data.run.context_tokens + " tokens of it: teacher.context_tokens)" : "";
      var sk = add(el("details", "privileged"), el("summary", null, "privileged context the teacher saw" + budget),
        el("pre", null, ep.privileged));
      sk.open = true;
      body.appendChild(sk);
    } else {
      body.appendChild(el("div", "note", data.has_gap ? "the teacher's privileged text is not recorded in this run"
        : "no teacher in this run (algo " + (data.run.algo || "?") + ")"));
    }
    ep.turns.forEach(function (t) { body.appendChild(renderTurn(t)); });
    return body;
  }

  function renderEpisode(ep) {
    var d = el("details", "episode");
    d.dataset.type = ep.task_type; d.dataset.outcome = ep.won ? "won" : "lost"; d.dataset.step = String(ep.step);
    var gaps = [].concat.apply([], ep.turns.map(function (t) { return t.gap || []; }));
    var gates = [].concat.apply([], ep.turns.map(function (t) { return t.gate || []; }));
    var extra = gaps.length ? " \u00b7 gap " + signed(mean(gaps), 3) + " \u00b7 gate " + num(mean(gates), 2) : "";
    add(d, add(el("summary"), "step " + ep.step + " \u00b7 trajectory " + ep.trajectory + " \u00b7 group " + ep.group
      + " \u00b7 " + ep.task_type + " \u00b7 ",
      el("span", "badge " + (ep.won ? "won" : "lost"), ep.won ? "won" : "lost"),
      " ", el("span", "goal", ep.goal || ""), " \u00b7 " + ep.turns.length + " turns" + extra));
    d.addEventListener("toggle", function () {
      if (d.open && !d.querySelector(".ep-body")) d.appendChild(renderBody(ep));
    });
    return d;
  }

  function uniq(key) {
    var seen = {};
    episodes.forEach(function (e) { seen[e[key]] = true; });
    return Object.keys(seen).sort(function (a, b) { return key === "step" ? a - b : a < b ? -1 : a > b ? 1 : 0; });
  }
  function select(label, key, values) {
    var s = el("select"); s.id = "filter-" + key;
    add(s, el("option", null, "all")); s.options[0].value = "";
    values.forEach(function (v) { var o = el("option", null, v); o.value = v; s.appendChild(o); });
    s.addEventListener("change", function () { state[key] = s.value; applyFilters(); });
    return add(el("label"), label + " ", s);
  }
  function setFilters(type, outcome) {
    state.type = type; state.outcome = outcome;
    document.getElementById("filter-type").value = type;
    document.getElementById("filter-outcome").value = outcome;
    applyFilters();
  }
  function applyFilters() {
    var shown = 0;
    document.querySelectorAll("#episodes > details.episode").forEach(function (d, i) {
      var ep = episodes[i];
      var ok = (!state.type || d.dataset.type === state.type) && (!state.outcome || d.dataset.outcome === state.outcome)
        && (!state.step || d.dataset.step === state.step)
        && (!state.text || (ep.goal || "").toLowerCase().indexOf(state.text.toLowerCase()) >= 0);
      d.hidden = !ok; shown += ok ? 1 : 0;
    });
    document.getElementById("count").textContent = "showing " + shown + " of " + episodes.length + " episodes";
  }

  function renderSummary() {
    var table = document.getElementById("summary");
    add(table, add(el("tr"), el("th", null, "task type"), el("th", null, "won"), el("th", null, "lost"),
      el("th", null, "all")));
    uniq("task_type").forEach(function (type) {
      var row = el("tr");
      add(row, el("td", null, type));
      [["won", true], ["lost", false], ["", null]].forEach(function (c) {
        var n = episodes.filter(function (e) {
          return e.task_type === type && (c[1] === null || e.won === c[1]);
        }).length;
        var b = el("button", null, String(n));
        b.addEventListener("click", function () { setFilters(type, c[0]); });
        row.appendChild(add(el("td"), b));
      });
      table.appendChild(row);
    });
  }

  function renderHeader() {
    var r = data.run;
    document.getElementById("meta").textContent = "run " + r.name + " \u00b7 algo " + (r.algo || "?") + " \u00b7 env "
      + (r.env || "?") + " \u00b7 model " + (r.model || "?") + " \u00b7 " + episodes.length + " episodes, "
      + allTurns().length + " turns from samples.jsonl";
    var legend = document.getElementById("legend");
    if (!data.has_gap) { add(legend, el("span", "note", "no teacher in this run: tokens are not coloured")); return; }
    var scale = el("input");
    scale.type = "number"; scale.step = "any"; scale.min = "0"; scale.value = state.scale.toPrecision(3);
    scale.style.width = "6em"; scale.id = "gap-scale";
    scale.addEventListener("change", function () {
      var v = Number(scale.value); if (v > 0) { state.scale = v; document.querySelectorAll(".tok").forEach(paint); }
    });
    add(legend, "teacher\u2013student gap lt \u2212 ls: teacher rejects ", el("span", "scale"),
      " teacher endorses \u00b7 ",
      add(el("label"), "full colour at |gap| = ", scale), " \u00b7 ", el("span", "gate-demo", "underline"),
      " opacity = gate \u00b7 hover a token for its values");
  }

  function selfCheck() {
    var cards = document.querySelectorAll("#episodes > details.episode");
    if (cards.length !== episodes.length) {
      throw new Error("rendered " + cards.length + " of " + episodes.length + " episodes");
    }
    if (episodes.length) {
      var want = (episodes[0].turns[0] && episodes[0].turns[0].tokens || []).length;
      var got = cards[0].querySelector(".turn .response").querySelectorAll(".tok").length;
      if (got !== want) throw new Error("first turn shows " + got + " of " + want + " tokens");
    }
    document.title = "sdar-viewer-ok:" + episodes.length;
  }

  try {
    renderHeader();
    renderSummary();
    var filters = document.getElementById("filters");
    var search = el("input"); search.type = "search"; search.placeholder = "goal contains\u2026";
    search.addEventListener("input", function () { state.text = search.value; applyFilters(); });
    add(filters, select("task type", "type", uniq("task_type")), select("outcome", "outcome", ["won", "lost"]),
      select("step", "step", uniq("step")), search);
    var list = document.getElementById("episodes");
    episodes.forEach(function (ep) { list.appendChild(renderEpisode(ep)); });
    if (list.firstChild) { list.firstChild.open = true; list.firstChild.appendChild(renderBody(episodes[0])); }
    applyFilters();
    selfCheck();
  } catch (err) {
    document.title = "sdar-viewer-error:" + (err && err.message);
    throw err;
  }
})();
</script>
</body>
</html>
"""
