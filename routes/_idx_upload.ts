/**
 * An IDX upload, checked and stored in one streaming pass: each file is
 * inflated if gzipped (within the byte and time budget), checked element by
 * element as it passes (routes/_idx_stream.ts), and written into the blob
 * store as part of the stored content (images, labels, then test images
 * and test labels, uncompressed, back to back). The checks across files
 * (counts, shapes, classes) are the engine's own, run on what the pass saw.
 */
import type { BlobStore } from "../db/mod.ts";
import { type IdxArray, idxToDataset } from "../src/engine/data/mod.ts";
import {
  concatStreams,
  inflateBounded,
  type InflateLimits,
  isGzipFile,
  openFileStream,
} from "./_byte_streams.ts";
import {
  asInvalid,
  asInvalidSync,
  type EncodedDataset,
} from "./_dataset_content.ts";
import {
  type IdxRole,
  IdxStreamCheck,
  type IdxSummary,
} from "./_idx_stream.ts";
import type { SpooledFile } from "./_multipart.ts";

/** Uploaded IDX files, gzipped or raw, as spooled by the multipart reader. */
export interface IdxUpload {
  images: SpooledFile;
  labels: SpooledFile;
  testImages?: SpooledFile;
  testLabels?: SpooledFile;
}

/**
 * A stand-in for a file that the streaming pass already checked element by
 * element: its dimensions, no images, and its largest label, which is all
 * idxToDataset needs to check shapes and counts and to count classes.
 */
function standIn(s: IdxSummary | undefined): IdxArray | undefined {
  if (!s) return undefined;
  const { dims } = s.header;
  if (s.typeCode !== 0x08 || dims.length === 1) {
    return {
      dims,
      data: dims[0] > 0 ? Float64Array.of(s.maxValue) : new Float64Array(0),
    };
  }
  // Unsigned bytes scale by 255, other types by their range: keep the type.
  return { dims, data: new Uint8Array(0) };
}

/**
 * Checks and stores an IDX upload; `limits` bound what gzip may inflate to,
 * all files together, and for how long.
 * @throws {ApiError} `invalid_dataset` naming the bad file; nothing stays
 * staged then.
 */
export async function encodeIdx(
  upload: IdxUpload,
  blobs: BlobStore,
  limits: InflateLimits,
): Promise<EncodedDataset> {
  const files: [string, SpooledFile | undefined, IdxRole][] = [
    ["images", upload.images, { kind: "images" }],
    ["labels", upload.labels, { kind: "labels", split: "training" }],
    ["test_images", upload.testImages, { kind: "images" }],
    ["test_labels", upload.testLabels, { kind: "labels", split: "test" }],
  ];
  const summaries = new Map<string, IdxSummary>();
  let budget = limits.maxBytes;
  const parts = files.filter(([, file]) => file).map(
    ([field, file, role]) => async () => {
      let stream = await openFileStream(file!.path);
      if (await isGzipFile(file!.path)) {
        stream = inflateBounded(stream, file!.size, field, {
          maxBytes: budget,
          deadline: limits.deadline,
        });
      }
      const check = new IdxStreamCheck(role);
      let decoded = 0;
      return stream.pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          transform(chunk, controller) {
            decoded += chunk.length;
            asInvalidSync(field, () => check.push(chunk));
            controller.enqueue(chunk);
          },
          flush() {
            summaries.set(field, asInvalidSync(field, () => check.end()));
            budget -= decoded;
          },
        }),
      );
    },
  );
  const staged = await blobs.stage(concatStreams(parts));
  try {
    const at = (field: string) => standIn(summaries.get(field));
    const images = at("images")!;
    const dataset = await asInvalid(
      "images and labels",
      () =>
        idxToDataset(
          images,
          at("labels")!,
          at("test_images"),
          at("test_labels"),
          { limit: 1 },
        ),
    );
    return {
      content: staged,
      shape: dataset.sampleShape,
      samples: images.dims[0],
      classes: dataset.classes,
    };
  } catch (err) {
    await staged.discard();
    throw err;
  }
}
