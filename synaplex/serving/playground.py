"""The playground page served at ``/``: a form generated from the program's input schema
(``GET /schema``), the JSON output of ``POST /run?trace=true``, and the trace of the call
(modules, LM calls, tokens, time). One self-contained page, no external assets; every value
is inserted as text (``textContent``), never as HTML."""

PLAYGROUND_HTML = r"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>synaplex playground</title>
<style>
  body { font: 15px/1.45 system-ui, sans-serif; margin: 0; color: #1d1d1f; background: #f6f7f9; }
  header { background: #1f2937; color: #fff; padding: 12px 24px; }
  header h1 { font-size: 18px; margin: 0; }
  header p { margin: 2px 0 0; color: #cbd5e1; font-size: 13px; }
  main { display: grid; grid-template-columns: minmax(280px, 1fr) minmax(320px, 1.3fr); gap: 20px;
         padding: 20px 24px; }
  section { background: #fff; border: 1px solid #e5e7eb; border-radius: 8px; padding: 16px; }
  h2 { font-size: 15px; margin: 0 0 10px; }
  label { display: block; font-weight: 600; margin: 10px 0 4px; }
  label small { font-weight: 400; color: #6b7280; }
  input[type=text], input[type=number], input[type=password], textarea, select {
    width: 100%; box-sizing: border-box; padding: 6px 8px; border: 1px solid #cbd5e1; border-radius: 6px;
    font: inherit; }
  textarea { font-family: ui-monospace, monospace; font-size: 13px; }
  fieldset { border: 1px solid #e5e7eb; border-radius: 6px; margin: 8px 0; }
  button { margin-top: 14px; padding: 8px 18px; border: 0; border-radius: 6px; background: #2563eb; color: #fff;
           font: inherit; cursor: pointer; }
  button:disabled { background: #93c5fd; cursor: wait; }
  pre { background: #0f172a; color: #e2e8f0; padding: 12px; border-radius: 6px; overflow: auto; min-height: 2em;
        margin: 0; }
  table { border-collapse: collapse; width: 100%; font-size: 13px; margin-top: 8px; }
  th, td { text-align: left; border-bottom: 1px solid #e5e7eb; padding: 4px 6px; }
  td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
  #error { color: #b91c1c; white-space: pre-wrap; margin-top: 10px; }
  #summary { color: #374151; margin: 10px 0 0; }
  .hidden { display: none; }
</style>
</head>
<body>
<header><h1 id="title">synaplex playground</h1><p id="description"></p></header>
<main>
  <section>
    <h2>Input</h2>
    <div id="auth" class="hidden">
      <label for="token">Bearer token <small>(this server needs one)</small></label>
      <input type="password" id="token" autocomplete="off">
      <button type="button" id="connect">Connect</button>
    </div>
    <form id="form" class="hidden" novalidate>
      <div id="fields"></div>
      <button type="submit" id="submit">Run</button>
    </form>
    <div id="error" role="alert"></div>
  </section>
  <section>
    <h2>Output</h2>
    <pre id="output"></pre>
    <h2 style="margin-top:16px">Trace</h2>
    <p id="summary"></p>
    <table id="trace"><thead><tr><th>module</th><th>type</th><th class="num">start ms</th>
      <th class="num">time ms</th><th class="num">LM calls</th><th class="num">tokens in</th>
      <th class="num">tokens out</th></tr></thead><tbody></tbody></table>
  </section>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
let info = null;

function headers(extra) {
  const h = Object.assign({}, extra || {});
  const token = $("token").value.trim();
  if (token) h["Authorization"] = "Bearer " + token;
  return h;
}

function showError(text) { $("error").textContent = text || ""; }

function resolve(schema, root) {
  let s = schema || {};
  for (let i = 0; i < 32 && s.$ref; i++) {
    const name = s.$ref.split("/").pop();
    s = (root.$defs || {})[name] || {};
  }
  if (Array.isArray(s.anyOf)) {            // Optional[X]: the non-null branch
    const others = s.anyOf.filter((x) => x.type !== "null");
    if (others.length === 1) return Object.assign({}, resolve(others[0], root), {nullable: true});
  }
  return s;
}

function makeField(name, prop, required, root, path) {
  const s = resolve(prop, root);
  const id = "field-" + path.join("-");
  const wrap = document.createElement("div");
  const label = document.createElement("label");
  label.htmlFor = id;
  label.textContent = s.title && s.title.toLowerCase() !== name.toLowerCase() ? s.title : name;
  const hint = document.createElement("small");
  hint.textContent = " " + (s.type || "json") + (required ? "" : ", optional") +
    (s.description ? " — " + s.description : "");
  label.appendChild(hint);
  wrap.appendChild(label);
  let el;
  if (Array.isArray(s.enum)) {
    el = document.createElement("select");
    if (!required) el.appendChild(new Option("", ""));
    for (const v of s.enum) el.appendChild(new Option(String(v), JSON.stringify(v)));
    el.dataset.kind = "enum";
  } else if (s.type === "boolean") {
    el = document.createElement("input");
    el.type = "checkbox";
    el.dataset.kind = "boolean";
  } else if (s.type === "integer" || s.type === "number") {
    el = document.createElement("input");
    el.type = "number";
    el.step = s.type === "integer" ? "1" : "any";
    el.dataset.kind = s.type;
  } else if (s.type === "string") {
    el = document.createElement("textarea");
    el.rows = 2;
    el.dataset.kind = "string";
  } else {
    el = document.createElement("textarea");
    el.rows = 4;
    el.placeholder = "JSON";
    el.dataset.kind = "json";
  }
  if (s.default !== undefined && el.dataset.kind !== "json") {
    if (el.type === "checkbox") el.checked = !!s.default;
    else el.value = el.dataset.kind === "enum" ? JSON.stringify(s.default) : s.default;
  }
  el.id = id;
  el.name = name;
  el.dataset.required = required ? "1" : "";
  wrap.appendChild(el);
  return wrap;
}

function buildForm() {
  const fields = $("fields");
  fields.replaceChildren();
  const schemas = info.multiple_inputs ? info.input_schema.prefixItems : [info.input_schema];
  schemas.forEach((schema, i) => {
    const box = document.createElement(info.multiple_inputs ? "fieldset" : "div");
    box.dataset.input = String(i);
    if (info.multiple_inputs) {
      const legend = document.createElement("legend");
      legend.textContent = schema.title || ("input " + (i + 1));
      box.appendChild(legend);
    }
    const required = new Set(schema.required || []);
    for (const [name, prop] of Object.entries(schema.properties || {})) {
      box.appendChild(makeField(name, prop, required.has(name), schema, [i, name]));
    }
    fields.appendChild(box);
  });
  $("form").classList.remove("hidden");
}

function readValue(el) {
  const kind = el.dataset.kind;
  if (kind === "boolean") return {set: true, value: el.checked};
  if (el.value === "") return {set: !!el.dataset.required && kind === "string", value: ""};
  if (kind === "integer" || kind === "number") return {set: true, value: Number(el.value)};
  if (kind === "enum") return {set: true, value: JSON.parse(el.value)};
  if (kind === "json") {
    try { return {set: true, value: JSON.parse(el.value)}; }
    catch (e) { throw new Error(el.name + ": not valid JSON (" + e.message + ")"); }
  }
  return {set: true, value: el.value};
}

function collect() {
  const inputs = [];
  for (const box of $("fields").children) {
    const obj = {};
    for (const el of box.querySelectorAll("input, select, textarea")) {
      const {set, value} = readValue(el);
      if (set) obj[el.name] = value;
    }
    inputs.push(obj);
  }
  return info.multiple_inputs ? inputs : inputs[0];
}

function fmt(n) { return n === null || n === undefined ? "" : String(n); }

function showTrace(trace) {
  const body = $("trace").tBodies[0];
  body.replaceChildren();
  if (!trace) return;
  for (const m of trace.modules) {
    const row = body.insertRow();
    const inTok = m.lm_calls.reduce((a, c) => a + c.input_tokens, 0);
    const outTok = m.lm_calls.reduce((a, c) => a + c.output_tokens, 0);
    const cells = [m.name + (m.error ? " (" + m.error + ")" : ""), m.type, fmt(m.start_ms), fmt(m.duration_ms),
                   String(m.lm_calls.length), String(inTok), String(outTok)];
    cells.forEach((text, i) => {
      const td = row.insertCell();
      td.textContent = text;
      if (i >= 2) td.className = "num";
    });
  }
  const u = trace.usage;
  $("summary").textContent = trace.modules.length + " module calls · " + u.lm_calls + " LM calls · " +
    u.total_tokens + " tokens (" + u.input_tokens + " in, " + u.output_tokens + " out)" +
    (u.cost === null ? "" : " · $" + u.cost) + " · " + trace.duration_ms + " ms";
}

async function run(event) {
  event.preventDefault();
  showError("");
  let body;
  try { body = collect(); } catch (e) { showError(e.message); return; }
  $("submit").disabled = true;
  $("output").textContent = "";
  try {
    const r = await fetch("/run?trace=true", {method: "POST", headers: headers({"Content-Type": "application/json"}),
                                              body: JSON.stringify(body)});
    const data = await r.json();
    if (!r.ok) {
      const lines = [data.error ? data.error.message : ("HTTP " + r.status)];
      for (const d of data.detail || []) lines.push("• " + d.loc.slice(1).join(".") + ": " + d.msg);
      showError(lines.join("\n"));
      showTrace(null);
      $("summary").textContent = "";
      return;
    }
    $("output").textContent = JSON.stringify(data.output, null, 2);
    showTrace(data.trace);
  } catch (e) {
    showError("The request failed: " + e.message);
  } finally {
    $("submit").disabled = false;
  }
}

async function load() {
  showError("");
  const r = await fetch("/schema", {headers: headers()});
  if (r.status === 401) {
    $("auth").classList.remove("hidden");
    if ($("token").value) showError("Wrong token.");
    return;
  }
  if (!r.ok) { showError("Cannot read the program's schema: HTTP " + r.status); return; }
  info = await r.json();
  $("auth").classList.add("hidden");
  $("title").textContent = info.program;
  $("description").textContent = info.description || "";
  document.title = info.program + " · synaplex playground";
  buildForm();
}

$("form").addEventListener("submit", run);
$("connect").addEventListener("click", load);
load();
</script>
</body>
</html>
"""
