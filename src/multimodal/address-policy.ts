/**
 * SSRF guard for image URLs: which IP addresses a fetch may connect to.
 *
 * Refused by default (IANA special-purpose registries): "this network", private (RFC 1918), shared
 * CGNAT space (which holds Alibaba's metadata service), loopback, link-local (which holds the cloud
 * metadata service 169.254.169.254), IETF protocol assignments, documentation and benchmarking
 * ranges, multicast, reserved and broadcast; for IPv6 the unspecified and loopback addresses,
 * IPv4-mapped/compatible addresses by the IPv4 they carry, NAT64 (64:ff9b::/96) and 6to4
 * (2002::/16) by their embedded IPv4, local-use NAT64, discard-only, IETF protocol assignments
 * (Teredo included), documentation, unique-local (fc00::/7, which holds AWS's fd00:ec2::254),
 * link-local, site-local and multicast.
 *
 * An operator (or a test) lets chosen networks through with CIDRs (`--allowed-media-networks`); an
 * address in one of them is allowed even if it is in a refused range.
 * @module
 */
import { isIP } from "node:net";

/** A parsed address: 4 or 16 bytes. */
type Bytes = Uint8Array;

function parseIPv4(s: string): Bytes | null {
  const parts = s.split(".");
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i] as string;
    if (!/^\d{1,3}$/.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    out[i] = n;
  }
  return out;
}

function parseIPv6(s: string): Bytes | null {
  const zone = s.indexOf("%");
  if (zone >= 0) s = s.slice(0, zone);
  let tail: Bytes | null = null;
  const lastColon = s.lastIndexOf(":");
  if (s.includes(".", lastColon)) {
    tail = parseIPv4(s.slice(lastColon + 1));
    if (!tail) return null;
    s = `${s.slice(0, lastColon + 1)}0:0`;
  }
  const halves = s.split("::");
  if (halves.length > 2) return null;
  const groups = (h: string) => (h === "" ? [] : h.split(":"));
  const head = groups(halves[0] as string);
  const rest = halves.length === 2 ? groups(halves[1] as string) : [];
  const missing = 8 - head.length - rest.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const all = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...rest];
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    const g = all[i] as string;
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
    const n = Number.parseInt(g, 16);
    out[2 * i] = n >> 8;
    out[2 * i + 1] = n & 255;
  }
  if (tail) out.set(tail, 12);
  return out;
}

/** 4 or 16 bytes, or null when `ip` is not an IP literal. Brackets and zone ids are accepted. */
export function parseIP(ip: string): Bytes | null {
  const s = ip.startsWith("[") && ip.endsWith("]") ? ip.slice(1, -1) : ip;
  const v = isIP(s.split("%")[0] as string);
  if (v === 4) return parseIPv4(s);
  if (v === 6) return parseIPv6(s);
  return null;
}

interface Cidr {
  bytes: Bytes;
  prefix: number;
}

function inCidr(addr: Bytes, c: Cidr): boolean {
  if (addr.length !== c.bytes.length) return false;
  let bits = c.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if (((addr[i] as number) & mask) !== ((c.bytes[i] as number) & mask)) return false;
  }
  return true;
}

/** Parses `a.b.c.d/n`, `x:y::/n` or a bare address. Throws on anything else. */
export function parseCidr(text: string): Cidr {
  const [ip, len, extra] = text.trim().split("/");
  const bytes = parseIP(ip ?? "");
  if (!bytes || extra !== undefined) throw new RangeError(`'${text}' is not an IP address or CIDR`);
  const max = bytes.length * 8;
  const prefix = len === undefined ? max : /^\d{1,3}$/.test(len) ? Number(len) : Number.NaN;
  if (!(prefix >= 0 && prefix <= max)) throw new RangeError(`'${text}': prefix length must be 0–${max}`);
  return { bytes, prefix };
}

const v4 = (spec: string, why: string) => ({ cidr: parseCidr(spec), why });
const REFUSED: ReadonlyArray<{ cidr: Cidr; why: string }> = [
  v4("0.0.0.0/8", "'this network'"),
  v4("10.0.0.0/8", "private"),
  v4("100.64.0.0/10", "shared address space (CGNAT)"),
  v4("127.0.0.0/8", "loopback"),
  v4("169.254.0.0/16", "link-local (cloud metadata)"),
  v4("172.16.0.0/12", "private"),
  v4("192.0.0.0/24", "IETF protocol assignments"),
  v4("192.0.2.0/24", "documentation"),
  v4("192.88.99.0/24", "6to4 relay"),
  v4("192.168.0.0/16", "private"),
  v4("198.18.0.0/15", "benchmarking"),
  v4("198.51.100.0/24", "documentation"),
  v4("203.0.113.0/24", "documentation"),
  v4("224.0.0.0/4", "multicast"),
  v4("240.0.0.0/4", "reserved or broadcast"),
  v4("::/128", "unspecified"),
  v4("::1/128", "loopback"),
  v4("64:ff9b:1::/48", "local-use NAT64"),
  v4("100::/64", "discard-only"),
  v4("2001::/23", "IETF protocol assignments"),
  v4("2001:db8::/32", "documentation"),
  v4("fc00::/7", "unique-local"),
  v4("fe80::/10", "link-local"),
  v4("fec0::/10", "site-local"),
  v4("ff00::/8", "multicast"),
];

/** IPv4 carried inside an IPv6 address (mapped, compatible, NAT64, 6to4), else null. */
function embeddedIPv4(a: Bytes): Bytes | null {
  if (a.length !== 16) return null;
  const zeros = (from: number, to: number) => a.subarray(from, to).every((b) => b === 0);
  if (zeros(0, 10) && a[10] === 0xff && a[11] === 0xff) return a.slice(12); // ::ffff:a.b.c.d
  if (zeros(0, 12) && !zeros(12, 16)) return a.slice(12); // ::a.b.c.d (deprecated compatible form)
  if (a[0] === 0x00 && a[1] === 0x64 && a[2] === 0xff && a[3] === 0x9b && zeros(4, 12)) return a.slice(12); // 64:ff9b::/96
  if (a[0] === 0x20 && a[1] === 0x02) return a.slice(2, 6); // 2002::/16
  return null;
}

export class AddressPolicy {
  readonly #allowed: Cidr[];

  /** `allowedNetworks`: CIDRs (or bare addresses) let through even when in a refused range. */
  constructor(allowedNetworks: readonly string[] = []) {
    this.#allowed = allowedNetworks.map(parseCidr);
  }

  /** Why `ip` is refused, or null when a fetch may connect to it. Non-IP input is refused. */
  refusal(ip: string): string | null {
    const a = parseIP(ip);
    if (!a) return "not an IP address";
    if (this.#allowed.some((c) => inCidr(a, c))) return null;
    const direct = REFUSED.find((r) => inCidr(a, r.cidr));
    if (direct) return direct.why;
    const inner = embeddedIPv4(a);
    if (!inner || this.#allowed.some((c) => inCidr(inner, c))) return null;
    return REFUSED.find((r) => inCidr(inner, r.cidr))?.why ?? null;
  }
}
