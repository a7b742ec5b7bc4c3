/** A job webhook's signing secret, Standard Webhooks style. */

/** `whsec_` and 32 random bytes in base64, shown to the client once. */
export function newWebhookSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return `whsec_${btoa(String.fromCharCode(...bytes))}`;
}
