/**
 * GET /docs: a self-contained reference page rendered from the OpenAPI
 * document, with a small "try it" form per operation. No CDN can be reached
 * where this runs, so the page carries its own CSS and script.
 */
import { listProblemCodes } from "./problem.ts";

type Json = Record<string, unknown>;

const METHODS = ["get", "post", "put", "patch", "delete"] as const;

/** Escapes text for HTML bodies and attribute values. */
function esc(v: unknown): string {
  return String(v ?? "").replaceAll("&", "&amp;").replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;").replaceAll('"', "&quot;").replaceAll("'", "&#39;");
}

/** Pretty JSON with `$ref`s turned into links to the schema section. */
function schemaHtml(schema: unknown): string {
  return esc(JSON.stringify(schema, null, 2)).replace(
    /&quot;#\/components\/schemas\/([\w.-]+)&quot;/g,
    (_, name) => `<a href="#schema-${name}">${name}</a>`,
  );
}

function paramRow(p: Json): string {
  const schema = (p.schema ?? {}) as Json;
  return `<tr><td><code>${esc(p.name)}</code></td><td>${esc(p.in)}</td><td>${
    p.required ? "yes" : ""
  }</td><td><code>${esc(schema.type ?? "")}${
    schema.enum ? ` ${esc((schema.enum as unknown[]).join(" | "))}` : ""
  }</code></td><td>${esc(p.description ?? schema.description ?? "")}</td></tr>`;
}

/** Follows a local `$ref` into the document's components, once. */
function deref(schema: unknown, schemas: Json): Json {
  const ref = (schema as Json | undefined)?.$ref;
  if (typeof ref === "string") {
    return (schemas[ref.replace("#/components/schemas/", "")] ?? {}) as Json;
  }
  return (schema ?? {}) as Json;
}

function tryItInputs(
  params: Json[],
  body: Json | undefined,
  schemas: Json,
): string {
  const inputs = params.map((p) =>
    `<label>${esc(p.name)} <small>(${esc(p.in)})</small>
      <input data-in="${esc(p.in)}" data-name="${esc(p.name)}"></label>`
  );
  const content = (body?.content ?? {}) as Record<string, Json>;
  if (content["application/json"]) {
    const media = content["application/json"];
    const example = media.example ?? deref(media.schema, schemas).example;
    inputs.push(
      `<label>JSON body<textarea data-in="json" rows="10">${
        esc(example ? JSON.stringify(example, null, 2) : "{}")
      }</textarea></label>`,
    );
  }
  const form = content["multipart/form-data"];
  if (form) {
    const props = (deref(form.schema, schemas).properties ?? {}) as Record<
      string,
      Json
    >;
    for (const [name, s] of Object.entries(props)) {
      const type = s.format === "binary" ? "file" : "text";
      inputs.push(`<label>${esc(name)} <small>(form)</small>
        <input type="${type}" data-in="form" data-name="${
        esc(name)
      }"></label>`);
    }
  }
  return inputs.join("\n");
}

function operationHtml(
  path: string,
  method: string,
  op: Json,
  schemas: Json,
): string {
  const id = `op-${method}-${path.replace(/[^\w]+/g, "-")}`;
  const params = (op.parameters ?? []) as Json[];
  const body = op.requestBody as Json | undefined;
  const responses = Object.entries((op.responses ?? {}) as Record<string, Json>)
    .map(([status, r]) =>
      `<li><b>${esc(status)}</b> ${esc(r.description)} ${
        Object.keys((r.content ?? {}) as Json).map((m) =>
          `<code>${esc(m)}</code>`
        ).join(" ")
      }</li>`
    ).join("");
  const bodySchemas = Object.entries(
    (body?.content ?? {}) as Record<string, Json>,
  )
    .map(([media, m]) =>
      `<p>Body <code>${esc(media)}</code></p><pre>${schemaHtml(m.schema)}</pre>`
    ).join("");
  const sse = Object.keys(
    ((op.responses as Record<string, Json>)?.["200"]?.content ?? {}) as Json,
  ).includes("text/event-stream");
  return `<section class="op" id="${id}">
  <h3><span class="m ${method}">${method.toUpperCase()}</span> <code>${
    esc(path)
  }</code></h3>
  <p><b>${esc(op.summary)}</b></p><p>${esc(op.description ?? "")}</p>
  ${
    params.length
      ? `<table><tr><th>name</th><th>in</th><th>required</th><th>type</th><th>about</th></tr>${
        params.map(paramRow).join("")
      }</table>`
      : ""
  }
  ${bodySchemas}
  <ul>${responses}</ul>
  <details><summary>Try it</summary>
    <form data-method="${method}" data-path="${esc(path)}">
      ${tryItInputs(params, body, schemas)}
      ${
    sse
      ? '<label><input type="checkbox" data-sse> stream (Accept: text/event-stream)</label>'
      : ""
  }
      <button>Send</button> <button type="button" data-stop>Stop</button>
      <pre class="out"></pre>
    </form>
  </details>
</section>`;
}

// Plain browser JS: builds the request from the form, shows status and body,
// and streams SSE bodies chunk by chunk until the user stops them.
const SCRIPT = `
const keyInput = document.getElementById("key");
keyInput.value = localStorage.getItem("fngd-key") || "";
keyInput.onchange = () => localStorage.setItem("fngd-key", keyInput.value);
for (const form of document.querySelectorAll("form[data-method]")) {
  let ctl;
  form.querySelector("[data-stop]").onclick = () => ctl && ctl.abort();
  form.onsubmit = async (ev) => {
    ev.preventDefault();
    const out = form.querySelector(".out");
    let path = form.dataset.path;
    const query = new URLSearchParams();
    const headers = {};
    let body;
    const fd = new FormData();
    for (const el of form.querySelectorAll("[data-in]")) {
      const where = el.dataset.in, name = el.dataset.name;
      if (where === "json") { body = el.value; headers["content-type"] = "application/json"; continue; }
      if (where === "form") {
        if (el.type === "file") { if (el.files[0]) fd.append(name, el.files[0]); }
        else if (el.value) fd.append(name, el.value);
        body = fd; continue;
      }
      if (!el.value) continue;
      if (where === "path") path = path.replace("{" + name + "}", encodeURIComponent(el.value));
      else if (where === "query") query.set(name, el.value);
      else if (where === "header") headers[name] = el.value;
    }
    if (keyInput.value) headers.authorization = "Bearer " + keyInput.value;
    const sse = form.querySelector("[data-sse]");
    if (sse && sse.checked) headers.accept = "text/event-stream";
    ctl = new AbortController();
    out.textContent = "...";
    try {
      const res = await fetch(path + (query.size ? "?" + query : ""), {
        method: form.dataset.method.toUpperCase(), headers, body, signal: ctl.signal });
      out.textContent = res.status + " " + res.statusText + "\\n\\n";
      const reader = res.body.getReader();
      const dec = new TextDecoder();
      for (;;) { const { done, value } = await reader.read(); if (done) break; out.textContent += dec.decode(value, { stream: true }); }
    } catch (e) { out.textContent += "\\n" + e; }
  };
}`;

const STYLE = `
body{font:15px/1.45 system-ui,sans-serif;margin:0;display:flex}
nav{width:300px;height:100vh;overflow:auto;position:sticky;top:0;background:#f6f6f8;padding:12px;box-sizing:border-box;font-size:13px}
nav a{display:block;color:#222;text-decoration:none;padding:2px 0}
main{flex:1;padding:16px 28px;max-width:980px}
pre{background:#f4f4f4;padding:8px;overflow:auto;max-height:420px;font-size:12px}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ddd;padding:3px 6px;text-align:left}
.m{font-size:12px;padding:2px 6px;border-radius:3px;color:#fff;background:#555}
.get{background:#2a7}.post{background:#27c}.delete{background:#c33}
label{display:block;margin:4px 0}input:not([type=checkbox]),textarea{width:100%;box-sizing:border-box;font-family:monospace}
.op{border-top:1px solid #ddd;padding-top:8px}`;

/** The whole page for `doc`, an OpenAPI 3.x document. */
export function renderDocsPage(doc: Json): string {
  const info = (doc.info ?? {}) as Json;
  const paths = (doc.paths ?? {}) as Record<string, Record<string, Json>>;
  const ops: { path: string; method: string; op: Json }[] = [];
  for (const [path, item] of Object.entries(paths)) {
    for (const method of METHODS) {
      if (item[method]) ops.push({ path, method, op: item[method] });
    }
  }
  const schemas = ((doc.components as Json)?.schemas ?? {}) as Json;
  const nav = ops.map(({ path, method }) =>
    `<a href="#op-${method}-${
      path.replace(/[^\w]+/g, "-")
    }">${method.toUpperCase()} ${esc(path)}</a>`
  ).join("");
  const problems = listProblemCodes().map((p) =>
    `<tr id="problem-${p.code}"><td><code>${p.code}</code></td><td>${p.status}</td><td>${
      esc(p.title)
    }</td></tr>`
  ).join("");
  return `<!doctype html><html><head><meta charset="utf-8">
<title>${esc(info.title)} reference</title><style>${STYLE}</style></head>
<body><nav><b>${esc(info.title)}</b> ${esc(info.version)}
<p><a href="/openapi.json">openapi.json</a></p>${nav}
<p><a href="#schemas">Schemas</a><a href="#problems">Errors</a></p></nav>
<main><h1>${esc(info.title)}</h1><p>${esc(info.description)}</p>
<label>API key (sent as <code>Authorization: Bearer</code>; kept in this browser)
<input id="key" type="password" autocomplete="off"></label>
${
    ops.map(({ path, method, op }) => operationHtml(path, method, op, schemas))
      .join("\n")
  }
<h2 id="schemas">Schemas</h2>
${
    Object.entries(schemas).map(([name, s]) =>
      `<h3 id="schema-${esc(name)}">${esc(name)}</h3><pre>${
        schemaHtml(s)
      }</pre>`
    ).join("\n")
  }
<h2 id="problems">Errors</h2>
<p>Every error is <code>application/problem+json</code> (RFC 9457): <code>type</code>, <code>title</code>,
<code>status</code>, <code>detail</code>, <code>code</code>, and <code>errors: [{path, in, message}]</code> for invalid fields.</p>
<table><tr><th>code</th><th>status</th><th>title</th></tr>${problems}</table>
</main><script>${SCRIPT}</script></body></html>`;
}
