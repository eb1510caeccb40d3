/**
 * Image fetching and the SSRF guard, against a local server on 127.0.0.1 that the tests allow
 * explicitly (allowedNetworks 127.0.0.1/32); nothing leaves the machine.
 */
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AddressPolicy, parseCidr, parseIP } from "./address-policy.js";
import { rejection } from "../../test/fixtures/rejection.js";
import { MediaError } from "./errors.js";
import { decodeDataUrl, fetchImageBytes, type MediaFetchPolicy } from "./fetch.js";

const IMAGE = Buffer.from("\x89PNG\r\n\x1a\n-not-really-but-bytes", "latin1");
let server: Server;
let base = "";
let hits = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    hits++;
    const u = new URL(req.url ?? "/", "http://x");
    switch (u.pathname) {
      case "/img.png":
        res.writeHead(200, { "content-type": "image/png", "content-length": IMAGE.length });
        return res.end(IMAGE);
      case "/redirect":
        res.writeHead(302, { location: u.searchParams.get("to") ?? "/img.png" });
        return res.end();
      case "/loop":
        res.writeHead(301, { location: "/loop" });
        return res.end();
      case "/big":
        res.writeHead(200, { "content-length": 5_000_000 });
        return res.end(); // the client must give up on the header alone
      case "/stream-big": {
        res.writeHead(200); // chunked, no length
        const chunk = Buffer.alloc(64 * 1024, 1);
        let sent = 0;
        const pump = () => {
          while (sent < 4_000_000 && res.write(chunk)) sent += chunk.length;
          if (sent < 4_000_000) res.once("drain", pump);
          else res.end();
        };
        pump();
        res.on("error", () => undefined);
        return;
      }
      case "/slow":
        return; // never answers
      default:
        res.writeHead(404);
        return res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

function policy(over: Partial<MediaFetchPolicy> & { networks?: string[] } = {}): MediaFetchPolicy {
  const { networks = ["127.0.0.1/32"], ...rest } = over;
  return {
    timeoutMs: 2000,
    maxBytes: 1_000_000,
    maxRedirects: 3,
    allowedDomains: [],
    addresses: new AddressPolicy(networks),
    allowedLocalPath: null,
    ...rest,
  };
}

const refusal = (p: Promise<unknown>) => rejection(p, MediaError);

describe("fetchImageBytes over http", () => {
  it("fetches from 127.0.0.1 when the test allows it explicitly", async () => {
    expect(Buffer.from(await fetchImageBytes(`${base}/img.png`, policy())).equals(IMAGE)).toBe(true);
  });

  it("refuses 127.0.0.1 by default without connecting", async () => {
    const before = hits;
    const err = await refusal(fetchImageBytes(`${base}/img.png`, policy({ networks: [] })));
    expect(err.code).toBe("image_url_not_allowed");
    expect(err.message).toContain("loopback");
    expect(hits).toBe(before);
  });

  it.each([
    ["http://169.254.169.254/latest/meta-data/", "link-local"],
    ["http://[::1]/x.png", "loopback"],
    ["http://[::ffff:127.0.0.1]/x.png", "loopback"],
    ["http://[::ffff:a9fe:a9fe]/x.png", "link-local"],
    ["http://[fd00:ec2::254]/latest/", "unique-local"],
    ["http://[fe80::1]/x.png", "link-local"],
    ["http://10.0.0.7/x.png", "private"],
    ["http://0.0.0.0:80/x.png", "'this network'"],
    ["http://100.100.100.200/x.png", "CGNAT"],
    ["http://[64:ff9b::a9fe:a9fe]/x.png", "link-local"],
    ["http://[2002:7f00:1::]/x.png", "loopback"],
  ])("refuses %s (%s) before any connection", async (url, why) => {
    const err = await refusal(fetchImageBytes(url, policy({ networks: [] })));
    expect(err.code).toBe("image_url_not_allowed");
    expect(err.message).toContain(why);
  });

  it("refuses a DNS name that resolves to loopback", async () => {
    const port = (server.address() as AddressInfo).port;
    const err = await refusal(fetchImageBytes(`http://localhost:${port}/img.png`, policy({ networks: [] })));
    expect(err.code).toBe("image_url_not_allowed");
    expect(err.message).toMatch(/localhost: it resolves to (127\.0\.0\.1|::1)/);
  });

  it("follows a redirect within the policy, and re-checks every hop", async () => {
    expect(Buffer.from(await fetchImageBytes(`${base}/redirect?to=/img.png`, policy())).equals(IMAGE)).toBe(true);
    for (const to of ["http://10.1.2.3/x.png", "http://169.254.169.254/latest/meta-data/", "http://[::1]/x.png"]) {
      const err = await refusal(fetchImageBytes(`${base}/redirect?to=${encodeURIComponent(to)}`, policy()));
      expect(err.code).toBe("image_url_not_allowed");
    }
    const file = await refusal(fetchImageBytes(`${base}/redirect?to=${encodeURIComponent("file:///etc/passwd")}`, policy()));
    expect(file.message).toContain("only http(s) is followed");
  });

  it("limits redirects", async () => {
    expect((await refusal(fetchImageBytes(`${base}/loop`, policy()))).message).toContain("redirected more than 3");
    expect((await refusal(fetchImageBytes(`${base}/redirect?to=/img.png`, policy({ maxRedirects: 0 })))).message).toContain("more than 0");
  });

  it("refuses oversize bodies by Content-Length and while streaming", async () => {
    expect((await refusal(fetchImageBytes(`${base}/big`, policy()))).code).toBe("image_too_large");
    expect((await refusal(fetchImageBytes(`${base}/stream-big`, policy()))).code).toBe("image_too_large");
  });

  // /slow never answers: only the fetch's own deadline ends this (else the test's timeout fails it).
  it("times out", { timeout: 30_000 }, async () => {
    const err = await refusal(fetchImageBytes(`${base}/slow`, policy({ timeoutMs: 300 })));
    expect(err.code).toBe("image_fetch_timeout");
    expect(err.message).toContain("took longer than 0.3 s");
  });

  it("reports HTTP errors", async () => {
    expect((await refusal(fetchImageBytes(`${base}/nope.png`, policy()))).message).toContain("HTTP 404");
  });

  it("applies the domain allowlist before resolving anything", async () => {
    const only = policy({ allowedDomains: ["images.example.com"] });
    expect((await refusal(fetchImageBytes(`${base}/img.png`, only))).message).toContain("not on this server's list");
    expect((await refusal(fetchImageBytes("http://evil.example.net/x.png", only))).code).toBe("image_url_not_allowed");
    // A listed domain's subdomain passes the list (and then fails to resolve offline).
    expect(
      (
        await refusal(
          fetchImageBytes("http://cdn.images.example.com.invalid./x.png", policy({ allowedDomains: ["images.example.com.invalid"] })),
        )
      ).code,
    ).toBe("image_fetch_failed");
    expect(Buffer.from(await fetchImageBytes(`${base}/img.png`, policy({ allowedDomains: ["127.0.0.1"] }))).equals(IMAGE)).toBe(true);
  });

  it("refuses other schemes and credentials", async () => {
    expect((await refusal(fetchImageBytes("ftp://example.com/x.png", policy()))).code).toBe("invalid_image_url");
    expect((await refusal(fetchImageBytes(`http://user:pw@127.0.0.1:1/x.png`, policy()))).code).toBe("image_url_not_allowed");
  });
});

describe("data: URLs", () => {
  const b64 = IMAGE.toString("base64");
  it("decodes base64 and percent-encoded payloads", async () => {
    expect(Buffer.from(await fetchImageBytes(`data:image/png;base64,${b64}`, policy())).equals(IMAGE)).toBe(true);
    expect(Buffer.from(decodeDataUrl("data:,%89PNG", { maxBytes: 100 })).toString("latin1")).toBe("\x89PNG");
  });
  it("refuses non-image media types, bad base64 and oversize payloads", () => {
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        return (err as MediaError).code;
      }
      return null;
    };
    expect(code(() => decodeDataUrl(`data:text/html;base64,${b64}`, { maxBytes: 1e6 }))).toBe("invalid_image");
    expect(code(() => decodeDataUrl("data:image/png;base64,@@@@", { maxBytes: 1e6 }))).toBe("invalid_image_url");
    expect(code(() => decodeDataUrl(`data:image/png;base64,${"A".repeat(4000)}`, { maxBytes: 1000 }))).toBe("image_too_large");
    expect(code(() => decodeDataUrl("data:image/png;base64", { maxBytes: 1000 }))).toBe("invalid_image_url");
  });
});

describe("file:// URLs", () => {
  let root = "";
  let allowed = "";
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "herd-media-"));
    allowed = join(root, "allowed");
    await mkdir(allowed);
    await writeFile(join(allowed, "a.png"), IMAGE);
    await writeFile(join(root, "secret.png"), IMAGE);
    await symlink(join(root, "secret.png"), join(allowed, "link.png"));
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  it("reads files under --allowed-local-media-path only", async () => {
    const p = policy({ allowedLocalPath: allowed });
    expect(Buffer.from(await fetchImageBytes(pathToFileURL(join(allowed, "a.png")).href, p)).equals(IMAGE)).toBe(true);
    expect((await refusal(fetchImageBytes(pathToFileURL(join(root, "secret.png")).href, p))).code).toBe("image_url_not_allowed");
    expect((await refusal(fetchImageBytes(`file://${allowed}/../secret.png`, p))).code).toBe("image_url_not_allowed");
    expect((await refusal(fetchImageBytes(pathToFileURL(join(allowed, "link.png")).href, p))).code).toBe("image_url_not_allowed");
    expect((await refusal(fetchImageBytes(pathToFileURL(join(allowed, "missing.png")).href, p))).code).toBe("image_fetch_failed");
    expect(
      (await refusal(fetchImageBytes(pathToFileURL(join(allowed, "a.png")).href, policy({ allowedLocalPath: allowed, maxBytes: 4 })))).code,
    ).toBe("image_too_large");
  });

  it("refuses file URLs when no directory is allowed", async () => {
    expect((await refusal(fetchImageBytes(pathToFileURL(join(allowed, "a.png")).href, policy()))).message).toContain(
      "--allowed-local-media-path",
    );
  });
});

describe("AddressPolicy", () => {
  const p = new AddressPolicy();
  it.each(["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "2001:4860:4860::8888", "::ffff:8.8.8.8", "64:ff9b::808:808"])(
    "allows public %s",
    (ip) => {
      expect(p.refusal(ip)).toBeNull();
    },
  );
  it.each([
    "127.0.0.1",
    "127.255.255.254",
    "10.1.1.1",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",
    "224.0.0.1",
    "255.255.255.255",
    "::",
    "::1",
    "::127.0.0.1",
    "::ffff:10.0.0.1",
    "fc00::1",
    "fd12:3456::1",
    "fe80::1%eth0",
    "ff02::1",
    "2001:db8::1",
    "2001::1",
  ])("refuses %s", (ip) => {
    expect(p.refusal(ip)).not.toBeNull();
  });
  it("lets explicitly allowed networks through, and only those", () => {
    const q = new AddressPolicy(["127.0.0.1/32", "10.0.0.0/8", "fd00:ec2::/32"]);
    expect(q.refusal("127.0.0.1")).toBeNull();
    expect(q.refusal("::ffff:127.0.0.1")).toBeNull();
    expect(q.refusal("127.0.0.2")).toBe("loopback");
    expect(q.refusal("10.200.0.1")).toBeNull();
    expect(q.refusal("fd00:ec2::254")).toBeNull();
    expect(q.refusal("169.254.169.254")).toBe("link-local (cloud metadata)");
  });
  it("parses addresses and CIDRs strictly", () => {
    expect(Array.from(parseIP("::ffff:1.2.3.4") ?? [])).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 1, 2, 3, 4]);
    expect(parseIP("[::1]")?.[15]).toBe(1);
    expect(parseIP("example.com")).toBeNull();
    expect(parseIP("1.2.3")).toBeNull();
    expect(parseCidr("10.0.0.0/8").prefix).toBe(8);
    expect(() => parseCidr("10.0.0.0/33")).toThrow(RangeError);
    expect(() => parseCidr("not-an-ip/8")).toThrow(RangeError);
  });
});
