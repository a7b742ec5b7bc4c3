/**
 * Where webhooks may be sent: the checks shared by submission (routes/) and
 * delivery (workers/), which is why they live in the lowest layer. Only
 * https, except http to loopback when allowed; no credentials in the URL;
 * and no private, loopback, link-local or otherwise internal address unless
 * configured, checked on the literal at submission and on every resolved
 * address at delivery (a name can be re-pointed after submission).
 */

/** What the operator allows beyond public https. */
export interface WebhookUrlPolicy {
  /** `ALLOW_HTTP_WEBHOOKS`: http, to loopback addresses only. */
  allowHttp: boolean;
  /** `WEBHOOK_ALLOW_PRIVATE=1`: every internal range. */
  allowPrivate: boolean;
  /** `WEBHOOK_ALLOW_PRIVATE=<cidr,...>`: these internal ranges only. */
  allowCidrs: Cidr[];
}

/** The default: public https only. */
export const STRICT_WEBHOOK_POLICY: WebhookUrlPolicy = {
  allowHttp: false,
  allowPrivate: false,
  allowCidrs: [],
};

/** An address range: 4 or 16 bytes and a prefix length. */
export interface Cidr {
  bytes: Uint8Array;
  bits: number;
}

/** Longest webhook URL accepted. */
export const MAX_WEBHOOK_URL_CHARS = 2048;

/** `a.b.c.d` as 4 bytes, or undefined. */
function parseIPv4(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    if (!/^\d{1,3}$/.test(parts[i]) || Number(parts[i]) > 255) return undefined;
    out[i] = Number(parts[i]);
  }
  return out;
}

/** An IPv6 address (no brackets, no zone) as 16 bytes, or undefined. */
function parseIPv6(text: string): Uint8Array | undefined {
  if (!/^[0-9a-f:.]+$/i.test(text)) return undefined;
  let tail: Uint8Array | undefined;
  let head = text;
  const lastColon = text.lastIndexOf(":");
  if (text.slice(lastColon + 1).includes(".")) {
    tail = parseIPv4(text.slice(lastColon + 1));
    if (!tail) return undefined;
    head = text.slice(0, lastColon + 1) + "0:0";
  }
  const halves = head.split("::");
  if (halves.length > 2) return undefined;
  const groups = (s: string) => s === "" ? [] : s.split(":");
  const left = groups(halves[0]);
  const right = halves.length === 2 ? groups(halves[1]) : [];
  const missing = 8 - left.length - right.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const all = [
    ...left,
    ...Array(halves.length === 2 ? missing : 0).fill("0"),
    ...right,
  ];
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    if (!/^[0-9a-f]{1,4}$/i.test(all[i])) return undefined;
    const v = parseInt(all[i], 16);
    out[2 * i] = v >> 8;
    out[2 * i + 1] = v & 0xff;
  }
  if (tail) out.set(tail, 12);
  return out;
}

/** An IP literal (v4, or v6 with or without brackets) as bytes. */
export function parseIp(text: string): Uint8Array | undefined {
  const bare = text.replace(/^\[(.*)\]$/, "$1");
  return parseIPv4(bare) ?? parseIPv6(bare);
}

/**
 * "10.0.0.0/8" or "fd00::/8" (a bare address is a /32 or /128).
 * @throws {Error} naming the entry when it is not one.
 */
export function parseCidr(text: string): Cidr {
  const [addr, bitsText, extra] = text.trim().split("/");
  const bytes = extra === undefined ? parseIp(addr) : undefined;
  const max = bytes ? bytes.length * 8 : 0;
  const bits = bitsText === undefined ? max : Number(bitsText);
  if (
    !bytes || !Number.isInteger(bits) || bits < 0 || bits > max ||
    (bitsText !== undefined && !/^\d+$/.test(bitsText))
  ) {
    throw new Error(`"${text}" is not an address range like 10.0.0.0/8`);
  }
  return { bytes, bits };
}

function inCidr(ip: Uint8Array, cidr: Cidr): boolean {
  if (ip.length !== cidr.bytes.length) return false;
  for (let bit = 0; bit < cidr.bits; bit++) {
    const mask = 0x80 >> (bit % 8);
    const i = bit >> 3;
    if ((ip[i] & mask) !== (cidr.bytes[i] & mask)) return false;
  }
  return true;
}

/** Ranges that are not the public internet (RFC 6890 and friends). */
const INTERNAL = [
  "0.0.0.0/8",
  "10.0.0.0/8",
  "100.64.0.0/10",
  "127.0.0.0/8",
  "169.254.0.0/16",
  "172.16.0.0/12",
  "192.0.0.0/24",
  "192.0.2.0/24",
  "192.168.0.0/16",
  "198.18.0.0/15",
  "198.51.100.0/24",
  "203.0.113.0/24",
  "224.0.0.0/4",
  "240.0.0.0/4",
  "::/128",
  "::1/128",
  "100::/64",
  "2001:db8::/32",
  "fc00::/7",
  "fe80::/10",
  "ff00::/8",
].map(parseCidr);

const LOOPBACK = ["127.0.0.0/8", "::1/128"].map(parseCidr);

/** The IPv4 address an IPv6 one carries (mapped, NAT64, 6to4), if any. */
function embeddedV4(ip: Uint8Array): Uint8Array | undefined {
  if (ip.length !== 16) return undefined;
  const mapped = ip.slice(0, 12).every((b, i) => b === (i < 10 ? 0 : 0xff));
  const nat64 = ip[0] === 0 && ip[1] === 0x64 && ip[2] === 0xff &&
    ip[3] === 0x9b && ip.slice(4, 12).every((b) => b === 0);
  if (mapped || nat64) return ip.slice(12);
  if (ip[0] === 0x20 && ip[1] === 0x02) return ip.slice(2, 6);
  return undefined;
}

/** Whether `ip` is loopback (127/8, ::1, or v4 loopback inside v6). */
export function isLoopbackIp(ip: Uint8Array): boolean {
  const v4 = embeddedV4(ip);
  return LOOPBACK.some((c) => inCidr(v4 ?? ip, c));
}

/** Why `ip` may not receive webhooks under `policy`, or undefined when it may. */
export function refusedAddress(
  ip: Uint8Array,
  policy: WebhookUrlPolicy,
): string | undefined {
  const candidates = [ip, embeddedV4(ip)].filter((x) => x !== undefined);
  const internal = candidates.some((a) => INTERNAL.some((c) => inCidr(a, c)));
  if (!internal || policy.allowPrivate) return undefined;
  if (candidates.some((a) => policy.allowCidrs.some((c) => inCidr(a, c)))) {
    return undefined;
  }
  return "is a private, loopback, link-local or reserved address; set WEBHOOK_ALLOW_PRIVATE to allow it";
}

/** Host names that are loopback by definition (RFC 6761), never asked of DNS. */
export function isLocalhostName(host: string): boolean {
  return host === "localhost" || host.endsWith(".localhost");
}

/** A checked webhook URL. */
export interface CheckedWebhookUrl {
  url: URL;
  /** The host's address when the URL names one (or `localhost`), else undefined. */
  literal?: Uint8Array;
}

/**
 * Checks what can be checked without DNS; returns the parsed URL or why it is
 * refused (a sentence fragment after "url ").
 */
export function checkWebhookUrl(
  raw: string,
  policy: WebhookUrlPolicy,
): CheckedWebhookUrl | { error: string } {
  if (raw.length > MAX_WEBHOOK_URL_CHARS) {
    return { error: `is longer than ${MAX_WEBHOOK_URL_CHARS} characters` };
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { error: "is not an absolute URL" };
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    return { error: `must be https, got ${url.protocol.slice(0, 20)}` };
  }
  if (url.username || url.password) {
    return { error: "must not carry credentials (user:password@)" };
  }
  const host = url.hostname.toLowerCase();
  const literal = isLocalhostName(host) ? parseIp("127.0.0.1") : parseIp(host);
  if (url.protocol === "http:") {
    if (!policy.allowHttp) {
      return {
        error:
          "must be https (http is allowed only to loopback, with ALLOW_HTTP_WEBHOOKS set)",
      };
    }
    if (!literal || !isLoopbackIp(literal)) {
      return { error: "may be http only to a loopback address" };
    }
  }
  if (literal) {
    const why = refusedAddress(literal, policy);
    if (why) return { error: `host ${host} ${why}` };
  }
  return { url, literal };
}
