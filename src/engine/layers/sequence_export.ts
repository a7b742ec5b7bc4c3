/** What the sequence layers answer to a TF.js layers-format export, for now. */
import { EngineError } from "../types.ts";

/**
 * Sequence models are not exported to the TF.js layers format yet.
 * @throws {EngineError} `invalid_spec`, always, naming the layer kind.
 */
export function exportUnsupported(kind: string): never {
  throw new EngineError(
    "invalid_spec",
    `${kind} layers cannot be exported to the TF.js layers format yet; train without saving the model`,
  );
}
