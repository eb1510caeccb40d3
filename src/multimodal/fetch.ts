/**
 * Image bytes from an `image_url`: `data:` URLs, `http(s)://` URLs and `file://` paths, each
 * bounded (vLLM's controls, `../shared/reference/serving-anchors.md` §2 and §8, plus a byte cap):
 *
 * - one deadline for the whole fetch, redirects included (default 5 s, VLLM_IMAGE_FETCH_TIMEOUT);
 * - at most `maxBytes` (Content-Length checked first, then counted while streaming);
 * - redirects followed by hand, at most `maxRedirects`, every hop re-checked from the start;
 * - the host must be on `allowedDomains` when that list is not empty (an entry matches the host and
 *   its subdomains);
 * - every address the host resolves to must pass the `AddressPolicy` (SSRF): IP literals are checked
 *   directly, names through the socket's own `lookup`, so the address checked is the address
 *   connected to (no DNS-rebinding window); a name with any refused address is refused;
 * - `file://` only under `allowedLocalPath` (after resolving symlinks and `..`).
 * @module
 */
import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { open, realpath } from "node:fs/promises";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import type { LookupFunction } from "node:net";
import { sep } from "node:path";
import { fileURLToPath } from "node:url";
import type { AddressPolicy } from "./address-policy.js";
import { MediaError } from "./errors.js";

export interface MediaFetchPolicy {
  /** Deadline for one image, redirects included. */
  readonly timeoutMs: number;
  /** Largest image file accepted, in bytes. */
  readonly maxBytes: number;
  /** Redirects followed (0 = none). */
  readonly maxRedirects: number;
  /** Hosts http(s) URLs may name (an entry also matches its subdomains); empty = any host. */
  readonly allowedDomains: readonly string[];
  /** Which resolved addresses may be connected to. */
  readonly addresses: AddressPolicy;
  /** Directory `file://` URLs may read from; null = file URLs refused. */
  readonly allowedLocalPath: string | null;
}

const MIB = 1024 * 1024;

function sizeText(bytes: number): string {
  return bytes >= MIB ? `${(bytes / MIB).toFixed(1)} MiB` : `${bytes} bytes`;
}

function tooLarge(policy: Pick<MediaFetchPolicy, "maxBytes">, what: string): MediaError {
  return new MediaError(`${what} is larger than the ${sizeText(policy.maxBytes)} limit for one image.`, "image_too_large");
}

/** Shortens a URL for error messages (data URLs can be megabytes). */
export function describeUrl(url: string): string {
  if (url.startsWith("data:")) return `${url.slice(0, Math.min(url.indexOf(",") + 1 || 32, 48))}…`;
  return url.length > 200 ? `${url.slice(0, 200)}…` : url;
}

/** The bytes behind `url`. Throws MediaError. */
export async function fetchImageBytes(url: string, policy: MediaFetchPolicy, signal?: AbortSignal): Promise<Uint8Array> {
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(url)?.[1]?.toLowerCase();
  switch (scheme) {
    case "data":
      return decodeDataUrl(url, policy);
    case "http":
    case "https":
      return fetchHttp(url, policy, signal);
    case "file":
      return readLocalFile(url, policy);
    default:
      throw new MediaError(`The image URL must be a data:, http(s):// or file:// URL (got '${describeUrl(url)}').`, "invalid_image_url");
  }
}

// ---------------------------------------------------------------- data:

const BASE64 = /^[A-Za-z0-9+/\-_\s]*={0,2}\s*$/;

/** RFC 2397: `data:[<media type>][;base64],<data>`; the media type, when given, must be image/*. */
export function decodeDataUrl(url: string, policy: Pick<MediaFetchPolicy, "maxBytes">): Uint8Array {
  const comma = url.indexOf(",");
  if (comma < 0) throw new MediaError("The data URL has no ',' before its data.", "invalid_image_url");
  const params = url
    .slice(5, comma)
    .split(";")
    .map((s) => s.trim().toLowerCase());
  const isBase64 = params[params.length - 1] === "base64";
  const mediaType = params[0] ?? "";
  if (mediaType !== "" && mediaType !== "base64" && !mediaType.startsWith("image/")) {
    throw new MediaError(`The data URL's media type '${mediaType.slice(0, 64)}' is not an image type.`, "invalid_image");
  }
  const payload = url.slice(comma + 1);
  if (isBase64) {
    if (Math.floor((payload.length * 3) / 4) - 2 > policy.maxBytes) throw tooLarge(policy, "The data URL's image");
    if (!BASE64.test(payload))
      throw new MediaError("The data URL's base64 payload has characters outside the base64 alphabet.", "invalid_image_url");
    const bytes = Buffer.from(payload, "base64");
    if (bytes.length > policy.maxBytes) throw tooLarge(policy, "The data URL's image");
    return bytes;
  }
  if (payload.length > policy.maxBytes * 3) throw tooLarge(policy, "The data URL's image");
  const bytes = percentDecode(payload);
  if (bytes.length > policy.maxBytes) throw tooLarge(policy, "The data URL's image");
  return bytes;
}

/** RFC 3986 percent-decoding to bytes (`%XX` is a byte, not part of a UTF-8 sequence to validate). */
function percentDecode(s: string): Buffer {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    if (ch === 0x25) {
      const hex = s.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw new MediaError("The data URL's percent-encoding is malformed.", "invalid_image_url");
      out.push(Number.parseInt(hex, 16));
      i += 2;
    } else if (ch < 0x80) out.push(ch);
    else out.push(...Buffer.from(s[i] as string, "utf8"));
  }
  return Buffer.from(out);
}

// ---------------------------------------------------------------- file:

async function readLocalFile(url: string, policy: MediaFetchPolicy): Promise<Uint8Array> {
  if (policy.allowedLocalPath === null) {
    throw new MediaError("file:// image URLs are disabled on this server (see --allowed-local-media-path).", "image_url_not_allowed");
  }
  let path: string;
  try {
    path = fileURLToPath(url);
  } catch (err) {
    throw new MediaError(`The file URL is malformed: ${(err as Error).message}`, "invalid_image_url");
  }
  const notAllowed = () =>
    new MediaError(`'${describeUrl(url)}' is not under the directory this server allows images from.`, "image_url_not_allowed");
  let real: string;
  let root: string;
  try {
    root = await realpath(policy.allowedLocalPath);
    real = await realpath(path);
  } catch {
    // Say the same thing whether or not the file exists outside the allowed directory.
    throw path.startsWith(policy.allowedLocalPath)
      ? new MediaError(`No image file at '${describeUrl(url)}'.`, "image_fetch_failed")
      : notAllowed();
  }
  if (real !== root && !real.startsWith(root.endsWith(sep) ? root : root + sep)) throw notAllowed();
  const fh = await open(real, "r").catch(() => {
    throw new MediaError(`Cannot open '${describeUrl(url)}'.`, "image_fetch_failed");
  });
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new MediaError(`'${describeUrl(url)}' is not a regular file.`, "image_fetch_failed");
    if (st.size > policy.maxBytes) throw tooLarge(policy, `'${describeUrl(url)}'`);
    const buf = Buffer.alloc(st.size);
    const { bytesRead } = await fh.read(buf, 0, st.size, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

// ---------------------------------------------------------------- http(s):

function hostAllowed(host: string, allowed: readonly string[]): boolean {
  if (allowed.length === 0) return true;
  const h = host.toLowerCase().replace(/\.$/, "");
  return allowed.some((d) => {
    const a = d
      .toLowerCase()
      .replace(/^\*?\./, "")
      .replace(/\.$/, "");
    return h === a || h.endsWith(`.${a}`);
  });
}

class RefusedAddress extends Error {
  constructor(
    readonly host: string,
    readonly address: string,
    readonly why: string,
  ) {
    super(`${host} resolves to ${address} (${why})`);
  }
}

/** A `lookup` for sockets that resolves all addresses and refuses the host if any is refused. */
function guardedLookup(policy: AddressPolicy): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { all: true, verbatim: true, family: options.family ?? 0 }, (err, addresses: LookupAddress[]) => {
      if (err) return callback(err, "", 0);
      for (const a of addresses) {
        const why = policy.refusal(a.address);
        if (why) return callback(new RefusedAddress(hostname, a.address, why), "", 0);
      }
      if (addresses.length === 0) return callback(new Error(`${hostname} has no addresses`), "", 0);
      if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
      const first = addresses[0] as LookupAddress;
      callback(null, first.address, first.family);
    });
  };
}

/** Checks one hop's URL before connecting: scheme, domain allowlist, IP-literal hosts. */
function checkHop(url: URL, policy: MediaFetchPolicy, original: string): void {
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new MediaError(
      `'${describeUrl(original)}' redirects to a ${url.protocol} URL; only http(s) is followed.`,
      "image_url_not_allowed",
    );
  }
  if (url.username || url.password) throw new MediaError("Image URLs with credentials are not accepted.", "image_url_not_allowed");
  const host = url.hostname;
  if (!hostAllowed(host, policy.allowedDomains)) {
    throw new MediaError(
      `The host '${host}' is not on this server's list of allowed media domains (--allowed-media-domains).`,
      "image_url_not_allowed",
    );
  }
  const literal = host.startsWith("[") ? host.slice(1, -1) : host;
  if (/^[\d.]+$/.test(literal) || literal.includes(":")) {
    const why = policy.addresses.refusal(literal);
    if (why) throw new MediaError(`Image URLs may not point at ${literal} (${why} address).`, "image_url_not_allowed");
  }
}

function get(url: URL, policy: MediaFetchPolicy, signal: AbortSignal): Promise<IncomingMessage> {
  const send = url.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(url, {
      method: "GET",
      agent: false,
      lookup: guardedLookup(policy.addresses),
      signal,
      headers: { accept: "image/*", "user-agent": "herd" },
    });
    req.once("response", resolve);
    req.once("error", reject);
    req.end();
  });
}

async function readBody(res: IncomingMessage, policy: MediaFetchPolicy, url: string): Promise<Uint8Array> {
  const declared = Number(res.headers["content-length"]);
  if (Number.isFinite(declared) && declared > policy.maxBytes) {
    res.destroy();
    throw tooLarge(policy, `'${describeUrl(url)}' (${sizeText(declared)})`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > policy.maxBytes) {
      res.destroy();
      throw tooLarge(policy, `'${describeUrl(url)}'`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total);
}

function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

async function fetchHttp(original: string, policy: MediaFetchPolicy, outer?: AbortSignal): Promise<Uint8Array> {
  const deadline = AbortSignal.timeout(policy.timeoutMs);
  const signal = outer ? AbortSignal.any([deadline, outer]) : deadline;
  let url: URL;
  try {
    url = new URL(original);
  } catch {
    throw new MediaError(`'${describeUrl(original)}' is not a valid URL.`, "invalid_image_url");
  }
  try {
    for (let hop = 0; ; hop++) {
      checkHop(url, policy, original);
      const res = await get(url, policy, signal);
      const status = res.statusCode ?? 0;
      if (isRedirect(status) && res.headers.location) {
        res.resume();
        if (hop >= policy.maxRedirects) {
          throw new MediaError(`'${describeUrl(original)}' redirected more than ${policy.maxRedirects} time(s).`, "image_fetch_failed");
        }
        url = new URL(res.headers.location, url);
        continue;
      }
      if (status !== 200) {
        res.resume();
        throw new MediaError(`Fetching '${describeUrl(url.href)}' failed: HTTP ${status}.`, "image_fetch_failed");
      }
      return await readBody(res, policy, url.href);
    }
  } catch (err) {
    if (err instanceof MediaError) throw err;
    if (deadline.aborted) {
      throw new MediaError(`Fetching '${describeUrl(original)}' took longer than ${policy.timeoutMs / 1000} s.`, "image_fetch_timeout", {
        cause: err,
      });
    }
    if (err instanceof RefusedAddress) {
      throw new MediaError(
        `Image URLs may not point at ${err.host}: it resolves to ${err.address} (${err.why} address).`,
        "image_url_not_allowed",
        { cause: err },
      );
    }
    if (outer?.aborted) throw err;
    throw new MediaError(`Fetching '${describeUrl(url.href)}' failed: ${(err as Error).message}`, "image_fetch_failed", { cause: err });
  }
}
