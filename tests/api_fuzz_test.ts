/**
 * Hostile requests against every route of a real server (real HTTP, real
 * Postgres, auth on): methods, odd ids and query strings, odd headers, and
 * bodies built to break parsers (deep or wide JSON, wrong types, huge
 * strings, invalid UTF-8, multipart garbage). The routes come from the
 * OpenAPI document the app serves, so a new route is fuzzed without edits
 * here. Every answer must be under 500, at most 64 KiB (the request being
 * under 1 MB), and a 4xx must leave the tables as they were.
 *
 * Seeded: the seed is printed, and FUZZ_SEED=<seed> reruns the same requests
 * (FUZZ_RUNS=<n> changes their number).
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  type ApiHarness,
  KEY_A,
  KEY_B,
  METRICS_TOKEN,
  startApi,
  syntheticJob,
} from "./_api.ts";
import { rawExchange } from "./_raw_http.ts";

const SEED = Number(Deno.env.get("FUZZ_SEED") ?? 20261128);
const RUNS = Number(Deno.env.get("FUZZ_RUNS") ?? 1000);
const MAX_RESPONSE_BYTES = 64 * 1024;
/** Requests under this size must get answers under MAX_RESPONSE_BYTES. */
const MAX_REQUEST_BYTES = 1_000_000;
/**
 * Static documentation, large by design: the OpenAPI document in JSON and
 * YAML and the reference page built from it. Exactly these paths are exempt
 * from the size bound; everything they serve is fixed, not per request.
 */
const DOCUMENTATION_PATHS = new Set([
  "/openapi.json",
  "/openapi.yaml",
  "/docs",
]);
/**
 * GET /metrics grows with the series the process has seen (route pattern x
 * method x status), not with any one request, so its size is not bounded
 * here; that its labels come only from the route table (never from a path
 * or a client's method) is checked after the run instead.
 */
const METRICS_PATH = "/metrics";
const METRIC_METHODS = new Set([
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "PATCH",
  "DELETE",
  "OPTIONS",
  "OTHER",
]);
const TABLES = ["jobs", "datasets", "comparisons", "job_events"] as const;

/** A route of the served OpenAPI document. */
interface Route {
  /** `/v1/jobs/{id}` */
  template: string;
  method: string;
  /** Query parameters it declares. */
  query: string[];
}

/** Rows the fixtures created, whose ids the fuzzer puts in paths. */
interface Fixtures {
  /** Alice's job, then bob's. */
  jobs: string[];
  comparison: string;
  dataset: string;
}

/** One generated request, described so that a failure can be read. */
interface FuzzRequest {
  route: Route;
  method: string;
  /** The id put in place of every `{param}`, raw (encoded when sent). */
  param: string;
  /** Encode the param (fetch) or send it as is (raw socket). */
  raw: boolean;
  suffix: string;
  query: [string, string][];
  headers: Record<string, string>;
  body: Body;
}

type Body =
  | { kind: "none" }
  | { kind: "text"; text: string; type?: string }
  | { kind: "bytes"; bytes: Uint8Array; type?: string }
  | { kind: "form"; fields: [string, string | Uint8Array][] };

// ---------------------------------------------------------------- values

/** Characters fetch accepts in a header value (a ByteString without CR, LF, NUL). */
const headerChar = fc.oneof(
  fc.integer({ min: 0x20, max: 0x7e }),
  fc.integer({ min: 0xa0, max: 0xff }),
).map((c) => String.fromCharCode(c));
const headerText = (maxLength: number) =>
  fc.string({ unit: headerChar, maxLength });

const oddText = fc.oneof(
  fc.constantFrom(
    "",
    " ",
    "0",
    "-1",
    "1e309",
    "NaN",
    "null",
    "true",
    "[]",
    "{}",
    "..",
    "../..",
    "%",
    "%00",
    "%zz",
    "%E0%A4%A",
    "\u0000",
    "ü🙂",
    "\u202e",
    "'; drop table jobs; --",
    "2147483648",
    "99999999999999999999",
    "0x10",
    "1.5",
    " 7",
  ),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "grapheme", maxLength: 20 }),
  fc.nat({ max: 6000 }).map((n) => "x".repeat(n)),
);

/** Ids of the resource `template` names first, so that most paths exist. */
function fixtureIds(template: string, f: Fixtures): string[] {
  if (template.startsWith("/v1/jobs")) return f.jobs;
  if (template.startsWith("/v1/comparisons")) return [f.comparison];
  if (template.startsWith("/v1/datasets")) return [f.dataset];
  return [...f.jobs, f.comparison, f.dataset];
}

function routeParamValues(ids: string[]) {
  return fc.oneof(
    { arbitrary: fc.constantFrom(...ids), weight: 8 },
    { arbitrary: fc.uuid(), weight: 2 },
    {
      arbitrary: fc.constantFrom(...ids.map((u) => u.toUpperCase())),
      weight: 1,
    },
    { arbitrary: fc.uuid().map((u) => `{${u}}`), weight: 1 },
    { arbitrary: oddText, weight: 3 },
  );
}

const queryValue = (ids: string[]) =>
  fc.oneof(
    fc.constantFrom(
      "",
      "0",
      "1",
      "5",
      "100",
      "1000",
      "1001",
      "-1",
      "2147483647",
      "2147483648",
      "1e2",
      "queued",
      "QUEUED",
      "succeeded",
    ),
    fc.constantFrom(...ids),
    oddText,
  );

const authorization = fc.oneof(
  { arbitrary: fc.constant(`Bearer ${KEY_A}`), weight: 24 },
  { arbitrary: fc.constant(`Bearer ${KEY_B}`), weight: 2 },
  { arbitrary: fc.constant(`Bearer ${METRICS_TOKEN}`), weight: 1 },
  { arbitrary: fc.constant(`bearer   ${KEY_A}  `), weight: 1 },
  {
    arbitrary: fc.constantFrom(
      "Bearer",
      "Bearer ",
      `Bearer ${KEY_A} extra`,
      "Basic YWxpY2U6cHc=",
      `Bearer ${"k".repeat(8000)}`,
    ),
    weight: 2,
  },
  { arbitrary: headerText(60), weight: 1 },
);

const contentType = fc.constantFrom(
  "application/json",
  "application/json; charset=utf-16",
  "application/problem+json",
  "text/plain",
  "text/event-stream",
  "multipart/form-data",
  "multipart/form-data; boundary=",
  "multipart/form-data; boundary=zzz",
  "application/x-www-form-urlencoded",
  "*/*",
  "json",
  "application/JSON",
);

// ----------------------------------------------------------------- bodies

/** A JSON value at `depth` levels of nesting, as text (no recursion limit of its own). */
const deepJson = fc.record({
  depth: fc.integer({ min: 1, max: 400 }),
  open: fc.constantFrom("[", '{"a":'),
}).map(({ depth, open }) => {
  const close = open === "[" ? "]" : "}";
  return `{"model":${open.repeat(depth)}1${close.repeat(depth)}}`;
});

const wideJson = fc.oneof(
  fc.integer({ min: 100, max: 25_000 }).map((n) =>
    JSON.stringify({
      ...syntheticJob(),
      model: { input_shape: Array(n).fill(1), layers: [] },
    })
  ),
  fc.integer({ min: 100, max: 25_000 }).map((n) =>
    JSON.stringify(
      Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i])),
    )
  ),
  fc.integer({ min: 1, max: 5_000 }).map((n) =>
    JSON.stringify({
      ...syntheticJob(),
      model: {
        input_shape: [8],
        layers: Array.from({ length: n }, () => ({ type: "dense", units: 1 })),
      },
    })
  ),
);

/** A string of 10 KB to 900 KB, somewhere in an otherwise plausible body. */
const hugeString = fc.record({
  n: fc.integer({ min: 10_000, max: 900_000 }),
  ch: fc.constantFrom("x", "é", "🙂", "\\", '"', "\u0000"),
  where: fc.constantFrom(
    "optimizer.name",
    "dataset.name",
    "layer type",
    "key",
    "idempotent spec",
    "comparison",
  ),
}).map(({ n, ch, where }) => {
  // n bytes once in JSON, whatever the character's escaped width, so the
  // body stays under 1 MB.
  const width = new TextEncoder().encode(JSON.stringify(ch)).length - 2;
  const s = ch.repeat(Math.floor(n / width));
  const job = syntheticJob() as Record<string, unknown>;
  switch (where) {
    case "optimizer.name":
      return JSON.stringify({ ...job, optimizer: { name: s } });
    case "dataset.name":
      return JSON.stringify({ ...job, dataset: { name: s } });
    case "layer type":
      return JSON.stringify({
        ...job,
        model: { input_shape: [8], layers: [{ type: s, units: 3 }] },
      });
    case "key":
      return JSON.stringify({ ...job, [s]: 1 });
    case "idempotent spec":
      return JSON.stringify({ ...job, seed: s });
    default:
      return JSON.stringify({
        spec: { ...job, optimizer: undefined },
        optimizers: [{ name: s }],
        seeds: [1],
      });
  }
});

/** Valid bodies, then one field replaced by something hostile. */
const mutatedJob = fc.record({
  // A third stay valid, so that creation and idempotent retries run too.
  field: fc.oneof(
    { arbitrary: fc.constant("none"), weight: 1 },
    {
      arbitrary: fc.constantFrom(
        "model",
        "dataset",
        "optimizer",
        "epochs",
        "batch_size",
        "seed",
        "schedule",
        "loss",
        "target",
        "validation_split",
        "extra",
      ),
      weight: 2,
    },
  ),
  value: fc.oneof(
    fc.jsonValue({ maxDepth: 3 }),
    fc.constantFrom(
      -1,
      0,
      1e308,
      -1e308,
      2 ** 31,
      2 ** 53 + 1,
      0.5,
      "",
      [],
      {},
      null,
      { name: "synthetic", samples: 2 ** 31 },
      { name: "synthetic", samples: 1e9, features: 1e9 },
      { id: "00000000-0000-0000-0000-000000000000" },
      { format: "csv", path: "/etc/passwd" },
      { name: "fngd", lr: "auto" },
      { name: "shampoo", block_size: 1 },
      { name: "cosine", warmup_epochs: 99 },
    ),
  ),
}).map(({ field, value }) => {
  const job = syntheticJob() as Record<string, unknown>;
  return JSON.stringify(field === "none" ? job : { ...job, [field]: value });
});

const comparisonBody = fc.record({
  optimizers: fc.array(
    fc.oneof(
      fc.constantFrom(
        { name: "sgd", lr: 0.1 },
        { name: "adamw" },
        { name: "fngd" },
      ),
      fc.jsonValue({ maxDepth: 2 }),
    ),
    { maxLength: 10 },
  ),
  seeds: fc.oneof(
    fc.array(fc.integer({ min: -3, max: 3 }), { maxLength: 7 }),
    fc.jsonValue({ maxDepth: 1 }),
  ),
  target: fc.option(
    fc.record({
      metric: fc.constantFrom("val_accuracy", "val_bleu", "bogus"),
      value: fc.oneof(fc.double(), fc.string()),
    }),
  ),
}).map((c) => {
  const { optimizer: _o, ...spec } = syntheticJob();
  return JSON.stringify({ spec, ...c });
});

const invalidUtf8 = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 2000 }),
  fc.constantFrom(
    new Uint8Array([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x3a, 0x31, 0x7d]),
    new Uint8Array([0xef, 0xbb, 0xbf, 0x7b, 0x7d]),
    new Uint8Array([0xff, 0xfe, 0x7b, 0x00, 0x7d, 0x00]),
    new Uint8Array([
      0x7b,
      0x22,
      0x61,
      0x22,
      0x3a,
      0x22,
      0xed,
      0xa0,
      0x80,
      0x22,
      0x7d,
    ]),
  ),
);

/** Upload fields: right names with wrong contents, wrong names, garbage files. */
const formFields = fc.array(
  fc.tuple(
    fc.oneof(
      fc.constantFrom(
        "name",
        "format",
        "file",
        "images",
        "labels",
        "test_images",
        "test_labels",
        "test_file",
        "label_column",
        "shape",
        "tokenizer",
        "max_length",
        "test_fraction",
      ),
      fc.string({ maxLength: 20 }),
    ),
    fc.oneof(
      fc.constantFrom(
        "csv",
        "idx",
        "parallel_text",
        "28,28,1",
        "0",
        "-1",
        "1e9",
        "char",
        "word",
        "label",
      ),
      oddText,
      fc.uint8Array({ maxLength: 3000 }),
      // A gzip header, then garbage.
      fc.uint8Array({ maxLength: 500 }).map((b) =>
        new Uint8Array([0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 3, ...b])
      ),
      // An IDX header claiming far more than it holds.
      fc.tuple(fc.integer({ min: 1, max: 4 }), fc.uint8Array({ maxLength: 64 }))
        .map(([dims, rest]) =>
          new Uint8Array([0, 0, 0x08, dims, 0x7f, 0xff, 0xff, 0xff, ...rest])
        ),
      fc.array(
        fc.array(fc.oneof(fc.integer(), fc.string({ maxLength: 5 })), {
          maxLength: 6,
        }).map((r) => r.join(",")),
        { maxLength: 30 },
      ).map((rows) =>
        new TextEncoder().encode(["label,a,b", ...rows].join("\n"))
      ),
      fc.array(fc.tuple(fc.string(), fc.string()), { maxLength: 30 }).map((
        pairs,
      ) =>
        new TextEncoder().encode(pairs.map(([a, b]) => `${a}\t${b}`).join("\n"))
      ),
    ),
  ),
  { maxLength: 8 },
);

const rawMultipart = fc.record({
  boundary: fc.constantFrom("zzz", "", "a b", "x".repeat(80)),
  parts: fc.array(fc.string({ maxLength: 200 }), { maxLength: 5 }),
  closed: fc.boolean(),
}).map(({ boundary, parts, closed }) => ({
  kind: "text" as const,
  type: `multipart/form-data; boundary=${boundary}`,
  text: parts.map((p) => `--${boundary}\r\n${p}\r\n`).join("") +
    (closed ? `--${boundary}--\r\n` : ""),
}));

const json = (arb: fc.Arbitrary<string>): fc.Arbitrary<Body> =>
  fc.tuple(
    arb,
    fc.oneof(
      { arbitrary: fc.constant("application/json"), weight: 6 },
      { arbitrary: contentType, weight: 1 },
    ),
  ).map(([text, type]) => ({ kind: "text" as const, text, type }));

/** A CSV upload that parses, or nearly: the success path, fuzzed. */
const validishUpload = fc.record({
  name: fc.oneof(fc.constant("rows"), oddText),
  labelColumn: fc.option(fc.constantFrom("label", "a", "missing", "")),
  shape: fc.option(fc.constantFrom("2", "1,2", "2,1,1", "3", "0", "1,1,1,1")),
  rows: fc.array(
    fc.tuple(fc.integer({ min: 0, max: 3 }), fc.double(), fc.integer()),
    { minLength: 1, maxLength: 40 },
  ),
}).map(({ name, labelColumn, shape, rows }): Body => ({
  kind: "form",
  fields: [
    ["name", name],
    ["format", "csv"],
    [
      "file",
      new TextEncoder().encode(
        ["label,a,b", ...rows.map((r) => r.join(","))].join("\n"),
      ),
    ],
    ...(labelColumn === null ? [] : [["label_column", labelColumn] as [
      string,
      string,
    ]]),
    ...(shape === null ? [] : [["shape", shape] as [string, string]]),
  ],
}));

/** Any body at all, whatever the route expects. */
const anyBody: fc.Arbitrary<Body> = fc.oneof(
  { arbitrary: fc.constant({ kind: "none" as const }), weight: 4 },
  { arbitrary: json(mutatedJob), weight: 3 },
  { arbitrary: json(comparisonBody), weight: 1 },
  {
    arbitrary: json(
      fc.jsonValue({ maxDepth: 6 }).map((v) => JSON.stringify(v) ?? "null"),
    ),
    weight: 3,
  },
  { arbitrary: json(deepJson), weight: 1 },
  { arbitrary: json(wideJson), weight: 1 },
  { arbitrary: json(hugeString), weight: 1 },
  {
    arbitrary: fc.tuple(invalidUtf8, contentType).map(([bytes, type]) => ({
      kind: "bytes" as const,
      bytes,
      type,
    })),
    weight: 2,
  },
  {
    arbitrary: formFields.map((fields) => ({ kind: "form" as const, fields })),
    weight: 2,
  },
  { arbitrary: rawMultipart, weight: 1 },
  {
    arbitrary: fc.tuple(fc.string({ maxLength: 300 }), contentType).map((
      [text, type],
    ) => ({ kind: "text" as const, text, type })),
    weight: 1,
  },
);

/** Bodies of the kind `route` takes, mostly, so that validation runs deep. */
function bodyFor(route: Route): fc.Arbitrary<Body> {
  const fitting: Record<string, fc.Arbitrary<Body>> = {
    "POST /v1/jobs": fc.oneof(
      { arbitrary: json(mutatedJob), weight: 6 },
      { arbitrary: json(hugeString), weight: 1 },
      { arbitrary: json(wideJson), weight: 1 },
      { arbitrary: json(deepJson), weight: 1 },
    ),
    "POST /v1/comparisons": fc.oneof(
      { arbitrary: json(comparisonBody), weight: 6 },
      { arbitrary: json(hugeString), weight: 1 },
      { arbitrary: json(wideJson), weight: 1 },
    ),
    "POST /v1/datasets": fc.oneof(
      { arbitrary: validishUpload, weight: 3 },
      {
        arbitrary: formFields.map((fields) => ({
          kind: "form" as const,
          fields,
        })),
        weight: 4,
      },
      { arbitrary: rawMultipart, weight: 1 },
    ),
  };
  const own = fitting[`${route.method} ${route.template}`] ??
    (route.method === "GET" ? fc.constant({ kind: "none" as const }) : anyBody);
  return fc.oneof({ arbitrary: own, weight: 4 }, {
    arbitrary: anyBody,
    weight: 1,
  });
}

// --------------------------------------------------------------- requests

/** `arb` `present` times in `absent + present`, else undefined. */
const rarely = <T>(arb: fc.Arbitrary<T>, absent: number, present = 1) =>
  fc.oneof(
    { arbitrary: fc.constant(undefined), weight: absent },
    { arbitrary: arb, weight: present },
  );

function requests(routes: Route[], fixtures: Fixtures) {
  // Query names the document declares join generic ones, so a parameter
  // added to a route is fuzzed too.
  const declared = [...new Set(routes.flatMap((r) => r.query))];
  // Routes that take a body get more requests: there is more to break.
  const route = fc.oneof(
    ...routes.map((r) => ({
      arbitrary: fc.constant(r),
      weight: r.method === "GET" ? 1 : 3,
    })),
  );
  return route.chain((route) => {
    const ids = fixtureIds(route.template, fixtures);
    return requestFor(route, ids, declared);
  });
}

function requestFor(route: Route, ids: string[], declared: string[]) {
  return fc.record({
    otherMethod: rarely(
      fc.constantFrom(
        "GET",
        "POST",
        "PUT",
        "PATCH",
        "DELETE",
        "HEAD",
        "OPTIONS",
        "FROB",
        "PROPFIND",
      ),
      3,
    ),
    param: routeParamValues(ids),
    // One request in seven goes over a raw socket: fetch normalizes paths
    // (dot segments, bad escapes) and sets Host itself.
    raw: fc.integer({ min: 0, max: 6 }).map((n) => n === 0),
    suffix: fc.oneof(
      { arbitrary: fc.constant(""), weight: 10 },
      {
        arbitrary: fc.constantFrom(
          "/",
          "//",
          "/..",
          "/x",
          "/%2e%2e",
          "%00",
          ";x=1",
          "/events/extra",
        ),
        weight: 1,
      },
    ),
    query: fc.array(
      fc.tuple(
        fc.oneof(
          fc.constantFrom(...declared, "x", "limit[]", ""),
          fc.string({ maxLength: 10 }),
        ),
        queryValue(ids),
      ),
      { maxLength: 4 },
    ),
    authorization: route.template === "/metrics"
      ? fc.oneof(
        { arbitrary: fc.constant(`Bearer ${METRICS_TOKEN}`), weight: 3 },
        { arbitrary: authorization, weight: 1 },
      )
      : rarely(authorization, 1, 12),
    origin: rarely(
      fc.constantFrom(
        "https://evil.example",
        "null",
        "garbage",
        "http://127.0.0.1:1",
        "http://localhost",
      ),
      8,
    ),
    accept: rarely(
      fc.constantFrom(
        "text/event-stream",
        "application/json",
        "*/*",
        "text/event-stream;q=0",
        "garbage",
      ),
      2,
    ),
    lastEventId: rarely(
      fc.oneof(
        fc.constantFrom(
          "",
          "0",
          "-1",
          "1",
          "2147483647",
          "2147483648",
          "1.5",
          "abc",
          "9".repeat(40),
        ),
        headerText(30),
      ),
      3,
    ),
    idempotencyKey: rarely(
      fc.oneof(
        fc.constantFrom("", "k1", "k2", "x".repeat(256), "x".repeat(9000)),
        headerText(40),
      ),
      2,
    ),
    host: fc.constantFrom(
      "evil.example",
      "",
      "a b",
      "[::1",
      "127.0.0.1:99999",
      "x".repeat(3000),
    ),
    body: bodyFor(route),
  }).map((g): FuzzRequest => {
    const headers: Record<string, string> = {};
    if (g.authorization !== undefined) headers.authorization = g.authorization;
    if (g.origin !== undefined) headers.origin = g.origin;
    if (g.accept !== undefined) headers.accept = g.accept;
    if (g.lastEventId !== undefined) headers["last-event-id"] = g.lastEventId;
    if (g.idempotencyKey !== undefined) {
      headers["idempotency-key"] = g.idempotencyKey;
    }
    if (g.raw) headers.host = g.host;
    if (
      (g.body.kind === "text" || g.body.kind === "bytes") && g.body.type
    ) headers["content-type"] = g.body.type;
    const method = g.otherMethod ?? route.method;
    // fetch sends no body with GET or HEAD; the raw socket does.
    const body: Body = !g.raw && (method === "GET" || method === "HEAD")
      ? { kind: "none" }
      : g.body;
    if (body.kind === "none") delete headers["content-type"];
    return {
      route,
      method,
      param: g.param,
      raw: g.raw,
      suffix: g.suffix,
      query: g.query,
      headers,
      body,
    };
  });
}

// ------------------------------------------------------------ the runner

function pathOf(r: FuzzRequest): string {
  const param = r.raw
    // A raw request line may not hold spaces or control characters; the
    // rest goes as is, invalid escapes and all.
    ? [...r.param].map((c) =>
      c <= " " || c >= "\u007f" ? encodeURIComponent(c) : c
    ).join("")
    : encodeURIComponent(r.param);
  const path = r.route.template.replace(/\{[^}]+\}/g, param) + r.suffix;
  const query = r.query.map(([k, v]) =>
    `${encodeURIComponent(k)}=${encodeURIComponent(v)}`
  ).join("&");
  return query ? `${path}?${query}` : path;
}

function bodyBytes(b: Body): { bytes?: Uint8Array; type?: string } {
  switch (b.kind) {
    case "none":
      return {};
    case "text":
      return { bytes: new TextEncoder().encode(b.text), type: b.type };
    case "bytes":
      return { bytes: b.bytes, type: b.type };
    case "form": {
      const boundary = "fuzzboundary7d1f";
      const enc = new TextEncoder();
      const parts: Uint8Array[] = [];
      for (const [name, value] of b.fields) {
        const file = typeof value !== "string";
        parts.push(enc.encode(
          `--${boundary}\r\nContent-Disposition: form-data; name="${
            name.replace(/["\r\n]/g, "_")
          }"${file ? '; filename="f.bin"' : ""}\r\n` +
            (file ? "Content-Type: application/octet-stream\r\n" : "") +
            "\r\n",
        ));
        parts.push(file ? value : enc.encode(value));
        parts.push(enc.encode("\r\n"));
      }
      parts.push(enc.encode(`--${boundary}--\r\n`));
      const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      let at = 0;
      for (const p of parts) {
        all.set(p, at);
        at += p.length;
      }
      return { bytes: all, type: `multipart/form-data; boundary=${boundary}` };
    }
  }
}

/** A request, short enough to read in a failure report. */
function describe(r: FuzzRequest): string {
  const { bytes, type } = bodyBytes(r.body);
  const head = Object.entries(r.headers).map(([k, v]) =>
    `${k}: ${v.length > 80 ? `${v.slice(0, 80)}... (${v.length} chars)` : v}`
  );
  const preview = bytes
    ? new TextDecoder().decode(bytes.slice(0, 200)) +
      (bytes.length > 200 ? `... (${bytes.length} bytes)` : "")
    : "";
  const path = pathOf(r);
  return [
    `${r.method} ${path.length > 300 ? path.slice(0, 300) + "..." : path}${
      r.raw ? " (raw socket)" : ""
    }`,
    ...head,
    ...(type ? [`content-type (body): ${type}`] : []),
    ...(preview ? [`body: ${JSON.stringify(preview)}`] : []),
  ].join("\n  ");
}

/** What one request got back. */
interface Outcome {
  status: number;
  /** Body bytes read, stopping one past the bound. */
  bytes: number;
}

/** Reads at most `limit` + 1 bytes of `body` (or what arrives in `ms` for a stream). */
async function measure(
  body: ReadableStream<Uint8Array> | null,
  ms: number,
): Promise<number> {
  if (!body) return 0;
  const reader = body.getReader();
  let n = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stop = new Promise<"stop">((resolve) => {
    timer = setTimeout(() => resolve("stop"), ms);
  });
  try {
    while (n <= MAX_RESPONSE_BYTES) {
      const chunk = await Promise.race([reader.read(), stop]);
      if (chunk === "stop" || chunk.done) break;
      n += chunk.value.length;
    }
  } finally {
    clearTimeout(timer);
    await reader.cancel().catch(() => {});
  }
  return n;
}

async function send(api: ApiHarness, r: FuzzRequest): Promise<Outcome> {
  const { bytes, type } = bodyBytes(r.body);
  const headers = { ...r.headers };
  if (type && !headers["content-type"]) headers["content-type"] = type;
  if (r.raw) {
    const res = await rawExchange(
      api.base,
      [
        `${r.method} ${pathOf(r)} HTTP/1.1`,
        `Host: ${headers.host ?? ""}`,
        "Connection: close",
        ...Object.entries(headers).filter(([k]) => k !== "host").map((
          [k, v],
        ) => `${k}: ${v}`),
        ...(bytes ? [`Content-Length: ${bytes.length}`] : []),
      ],
      bytes ? [{ bytes }] : [],
      20_000,
    );
    if (res.status === undefined) {
      throw new Error(`no response within 20 s (raw): ${describe(r)}`);
    }
    return {
      status: res.status,
      bytes: new TextEncoder().encode(res.body).length,
    };
  }
  const res = await fetch(api.base + pathOf(r), {
    method: r.method,
    headers,
    body: bytes as BodyInit | undefined,
    signal: AbortSignal.timeout(20_000),
  });
  const sse = res.headers.get("content-type")?.startsWith("text/event-stream");
  // A stream stays open: what it sends in half a second is measured.
  return {
    status: res.status,
    bytes: await measure(res.body, sse ? 500 : 20_000),
  };
}

async function counts(api: ApiHarness): Promise<Record<string, number>> {
  const rows = await api.tdb.db.sql.unsafe(
    `select ${
      TABLES.map((t) => `(select count(*)::int from ${t}) as ${t}`).join(", ")
    }`,
  );
  return rows[0] as Record<string, number>;
}

/** Fixtures: a job, a comparison and a dataset of alice's, a job of bob's. */
async function fixtures(api: ApiHarness): Promise<Fixtures> {
  const json = (key: string, path: string, body: unknown) =>
    api.call(path, {
      key,
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  const job = await json(KEY_A, "/v1/jobs", syntheticJob());
  const bob = await json(KEY_B, "/v1/jobs", syntheticJob());
  const { optimizer: _o, ...spec } = syntheticJob();
  const comparison = await json(KEY_A, "/v1/comparisons", {
    spec,
    optimizers: [{ name: "sgd", lr: 0.1 }],
    seeds: [1],
  });
  const form = new FormData();
  form.append("name", "rows");
  form.append("format", "csv");
  form.append("file", new Blob(["label,a,b\n0,1,2\n1,3,4\n2,5,6\n"]), "d.csv");
  const dataset = await api.call("/v1/datasets", {
    method: "POST",
    body: form,
  });
  const ids = [];
  for (const res of [job, bob, comparison, dataset]) {
    assert.equal(res.status, 201, await res.clone().text());
    ids.push((await res.json()).id);
  }
  return { jobs: [ids[0], ids[1]], comparison: ids[2], dataset: ids[3] };
}

/** The routes of the document the app serves (so new routes are fuzzed too). */
async function servedRoutes(api: ApiHarness): Promise<Route[]> {
  const doc = await (await api.call("/openapi.json")).json();
  const routes: Route[] = [];
  for (const [template, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item as object)) {
      if (!["get", "post", "put", "patch", "delete"].includes(method)) continue;
      const operation = op as { parameters?: { name: string; in: string }[] };
      routes.push({
        template,
        method: method.toUpperCase(),
        query: (operation.parameters ?? []).filter((p) => p.in === "query")
          .map((p) => p.name),
      });
    }
  }
  return routes;
}

Deno.test("fuzz: hostile requests get no 5xx, no huge answer, no write on 4xx", async () => {
  console.log(
    `fuzz seed ${SEED}, ${RUNS} requests (FUZZ_SEED=${SEED} FUZZ_RUNS=${RUNS} to reproduce)`,
  );
  const api = await startApi({
    MAX_BODY_BYTES: "1MiB",
    MAX_UPLOAD_BYTES: "1MiB",
  });
  try {
    const routes = await servedRoutes(api);
    // Every route of the document, not only those known when this was written.
    assert.ok(routes.length >= 16, JSON.stringify(routes));
    const generated = fc.sample(requests(routes, await fixtures(api)), {
      seed: SEED,
      numRuns: RUNS,
    });
    const covered = new Set(
      generated.map((r) => `${r.method} ${r.route.template}`),
    );
    for (const route of routes) {
      assert.ok(
        covered.has(`${route.method} ${route.template}`),
        `${route.method} ${route.template} was never requested`,
      );
    }
    const failures: string[] = [];
    let before = await counts(api);
    const statuses = new Map<number, number>();
    for (const r of generated) {
      let outcome: Outcome;
      try {
        outcome = await send(api, r);
      } catch (e) {
        failures.push(`request failed (${e}):\n  ${describe(r)}`);
        before = await counts(api);
        continue;
      }
      statuses.set(outcome.status, (statuses.get(outcome.status) ?? 0) + 1);
      const after = await counts(api);
      const path = pathOf(r).split("?")[0];
      if (outcome.status >= 500) {
        failures.push(`${outcome.status}:\n  ${describe(r)}`);
      }
      if (
        outcome.bytes > MAX_RESPONSE_BYTES &&
        (bodyBytes(r.body).bytes?.length ?? 0) < MAX_REQUEST_BYTES &&
        !DOCUMENTATION_PATHS.has(path) && path !== METRICS_PATH
      ) {
        failures.push(
          `answer over ${MAX_RESPONSE_BYTES} bytes (${outcome.status}):\n  ${
            describe(r)
          }`,
        );
      }
      if (outcome.status >= 400 && outcome.status < 500) {
        const changed = TABLES.filter((t) => after[t] !== before[t]);
        if (changed.length > 0) {
          failures.push(
            `${outcome.status} but ${changed.join(", ")} changed (${
              JSON.stringify(before)
            } -> ${JSON.stringify(after)}):\n  ${describe(r)}`,
          );
        }
      }
      before = after;
    }
    // However many requests came, /metrics has a series per route pattern
    // (or the middleware pattern an unknown path fell to), never per path:
    // no label holds an id or an escape, and there are few of them. Pages
    // outside the OpenAPI document (HTML) add a few patterns of their own.
    const patterns = new Set([
      ...routes.map((r) => r.template.replace(/\{(\w+)\}/g, ":$1")),
      "/*",
      "/v1/*",
    ]);
    const scraped = await (await api.call(METRICS_PATH, {
      key: METRICS_TOKEN,
    })).text();
    const labels = new Set<string>();
    for (
      const [, method, route] of scraped.matchAll(
        /^fngd_http_request[a-z_]*\{(?:le="[^"]*",)?method="([^"]*)",route="([^"]*)"/gm,
      )
    ) {
      labels.add(route);
      const pattern = patterns.has(route) ||
        (/^\/[\w\-./:*]*$/.test(route) && !/[0-9a-f]{8}-|\.\./i.test(route));
      if (!METRIC_METHODS.has(method) || !pattern) {
        failures.push(`a metric series labelled ${method} ${route}`);
      }
    }
    if (labels.size > patterns.size + 10) {
      failures.push(`${labels.size} route labels: ${[...labels].join(", ")}`);
    }
    console.log(
      "statuses:",
      JSON.stringify(Object.fromEntries([...statuses].sort())),
    );
    assert.deepEqual(
      failures,
      [],
      `${failures.length} failure(s), seed ${SEED}:\n${
        failures.slice(0, 20).join("\n")
      }`,
    );
  } finally {
    await api.close();
  }
});
