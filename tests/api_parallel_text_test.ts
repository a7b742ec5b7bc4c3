/**
 * Parallel text through /v1/datasets: parsed before it is stored, errors
 * naming the field and line, and read back by the worker exactly as validated.
 */
import assert from "node:assert/strict";
import { getDataset, readDatasetContent } from "../db/mod.ts";
import { Tokenizer } from "../src/engine/data/mod.ts";
import { loadJobDataset } from "../workers/job_dataset.ts";
import { postJob, startApi } from "./_api.ts";

const utf8 = (s: string) => new TextEncoder().encode(s);

function form(fields: Record<string, string | Uint8Array>): FormData {
  const fd = new FormData();
  for (const [k, v] of Object.entries(fields)) {
    if (typeof v === "string") fd.append(k, v);
    else fd.append(k, new Blob([v as Uint8Array<ArrayBuffer>]), `${k}.tsv`);
  }
  return fd;
}

const TRAIN = "words: 12\ttwelve\ndigits: twelve\t12\nwords: 3\tthree\n";
const TEST = "words: 13\tthirteen\n";

Deno.test("parallel text uploads", async (t) => {
  const api = await startApi();
  const upload = (fields: Record<string, string | Uint8Array>) =>
    api.call("/v1/datasets", { method: "POST", body: form(fields) });
  try {
    let id = "";
    await t.step(
      "is parsed, stored with its options and read back by a worker",
      async () => {
        const res = await upload({
          name: "numbers",
          format: "parallel_text",
          file: utf8(TRAIN),
          test_file: utf8(TEST),
        });
        assert.equal(res.status, 201);
        const body = await res.json();
        id = body.id;
        assert.equal(body.format, "parallel_text");
        // The longest pair is the test file's: "words: 13" (9 characters) +
        // "thirteen" (8) + BEGIN, SEP and END.
        assert.deepEqual(body.shape, [20]);
        assert.equal(body.samples, 3);
        const row = await getDataset(api.tdb.db, "alice", id);
        const content = await readDatasetContent(api.tdb.blobs, row!);
        assert.deepEqual(JSON.parse(new TextDecoder().decode(content)), {
          tokenizer: "char",
          max_length: 20,
          train: TRAIN,
          test: TEST,
        });

        const data = await loadJobDataset(
          api.tdb.db,
          api.tdb.blobs,
          "alice",
          { id },
          undefined,
        );
        const seq = data.sequences!;
        assert.equal(body.classes, seq.vocabulary.tokens.length);
        assert.equal(data.classes, body.classes);
        assert.equal(seq.length, 20);
        assert.equal(data.y.length, 3);
        assert.deepEqual(seq.test!.pairs, [
          { source: "words: 13", target: "thirteen" },
        ]);
        const tok = new Tokenizer(seq.vocabulary);
        assert.equal(tok.decodeTarget(seq.tokens.subarray(20, 40)), "12");
        // "n" occurs in no training text: the vocabulary is the training split's.
        assert.equal(tok.decodeTarget(seq.test!.tokens), "thirtee<unk>");
      },
    );

    await t.step(
      "takes a word tokenizer, max_length and test_fraction",
      async () => {
        const lines = Array.from({ length: 10 }, (_, i) => `a b ${i}\tc ${i}`)
          .join("\n");
        const res = await upload({
          name: "words",
          format: "parallel_text",
          file: utf8(lines),
          tokenizer: "word",
          max_length: "12",
          test_fraction: "0.2",
        });
        assert.equal(res.status, 201);
        const body = await res.json();
        assert.deepEqual(body.shape, [12]);
        assert.equal(body.samples, 8);
        const data = await loadJobDataset(
          api.tdb.db,
          api.tdb.blobs,
          "alice",
          { id: body.id },
          undefined,
        );
        assert.equal(data.sequences!.vocabulary.tokenizer, "word");
        assert.equal(data.sequences!.test!.pairs.length, 2);
        assert.equal(data.classes, body.classes);
      },
    );

    await t.step("a job names it by id", async () => {
      const res = await postJob(api, {
        model: {
          input_shape: [20],
          layers: [{ type: "dense", units: 4 }],
        },
        dataset: { id },
        optimizer: { name: "sgd" },
        epochs: 1,
      });
      assert.equal(res.status, 201, await res.clone().text());
      await res.body?.cancel();
    });

    await t.step(
      "bad files are 400 naming the line, and store nothing",
      async (t) => {
        const before = await api.count("datasets");
        const cases: [string, Record<string, string | Uint8Array>, RegExp][] = [
          [
            "a line without a tab",
            { file: utf8("a\tb\nc d\n") },
            /^file: line 2: expected source<TAB>target, found no tab$/,
          ],
          [
            "bytes that are not UTF-8",
            { file: new Uint8Array([...utf8("a\tb\nc\td\ne\t"), 0xfe]) },
            /^file: line 3: not valid UTF-8 text/,
          ],
          ["an empty file", { file: new Uint8Array() }, /^file: empty file/],
          [
            "a pair longer than max_length",
            { file: utf8("ab\tc\nabcd\tefgh\n"), max_length: "10" },
            /^file: line 2: the pair takes 11 char tokens \(source 4, target 4, plus BEGIN, SEP and END\), more than max_length 10$/,
          ],
          [
            "a bad test file",
            { file: utf8("a\tb\n"), test_file: utf8("x\ty\nz\n") },
            /^test_file: line 2: expected source<TAB>target, found no tab$/,
          ],
          [
            "a test pair longer than max_length",
            {
              file: utf8("a\tb\n"),
              test_file: utf8("abc\tdef\n"),
              max_length: "8",
            },
            /^test_file: line 1: the pair takes 9 char tokens/,
          ],
        ];
        for (const [name, fields, detail] of cases) {
          await t.step(name, async () => {
            const res = await upload({
              name: "bad",
              format: "parallel_text",
              ...fields,
            });
            assert.equal(res.status, 400);
            assert.equal(
              res.headers.get("content-type"),
              "application/problem+json",
            );
            const p = await res.json();
            assert.equal(p.code, "invalid_dataset");
            assert.match(p.detail, detail);
          });
        }
        const invalid: [string, Record<string, string | Uint8Array>, string][] =
          [
            [
              "test_file and test_fraction together",
              {
                format: "parallel_text",
                file: utf8("a\tb\n"),
                test_file: utf8("a\tb\n"),
                test_fraction: "0.1",
              },
              "test_fraction",
            ],
            [
              "an unknown tokenizer",
              {
                format: "parallel_text",
                file: utf8("a\tb\n"),
                tokenizer: "bpe",
              },
              "tokenizer",
            ],
            [
              "a max_length that is not a number",
              {
                format: "parallel_text",
                file: utf8("a\tb\n"),
                max_length: "ten",
              },
              "max_length",
            ],
            [
              "a parallel-text field on a CSV",
              {
                format: "csv",
                file: utf8("a,label\n1,0\n"),
                tokenizer: "word",
              },
              "tokenizer",
            ],
            [
              "a CSV field on parallel text",
              { format: "parallel_text", file: utf8("a\tb\n"), shape: "2" },
              "shape",
            ],
          ];
        for (const [name, fields, path] of invalid) {
          await t.step(name, async () => {
            const res = await upload({ name: "bad", ...fields });
            assert.equal(res.status, 400);
            const p = await res.json();
            assert.equal(p.code, "validation_failed");
            assert.ok(
              p.errors.some((e: { path: string }) => e.path === path),
              JSON.stringify(p.errors),
            );
          });
        }
        assert.equal(await api.count("datasets"), before);
      },
    );
  } finally {
    await api.close();
  }
});
