/**
 * Lowercase hex SHA-256 of a small buffer, for API key lookups (blobs are
 * hashed as they stream, in db/_blob_spool.ts).
 */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    bytes as Uint8Array<ArrayBuffer>,
  );
  return Array.from(
    new Uint8Array(digest),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}
