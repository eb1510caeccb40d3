/**
 * The chat page end to end: a real `herd serve` (embedded random-weight Llama 4) and a real headless
 * Chromium (Debian's `chromium`, driven by playwright-core). Sends a message and watches the reply
 * stream in, attaches images (file picker and drag and drop), stops a reply, and answers the API key
 * prompt of a server started with --api-key. Screenshots go to test-results/ (git-ignored).
 */
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodePng, renderImage } from "../../src/bench/datasets/png.js";
import { isCI } from "../../src/config/env.js";
import { buildChatPage } from "../../web/build.js";
import { type HerdServer, REPO_ROOT, startHerd } from "../e2e/helpers/herd-server.js";

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];
const ARTIFACTS = join(REPO_ROOT, "test-results");

if (!existsSync(CHROMIUM)) {
  const msg = `${CHROMIUM} is missing: apt-get install chromium (.ci/run does)`;
  if (isCI()) throw new Error(msg);
  console.warn(msg);
}

async function launch(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true, timeout: 60_000 });
}

async function openPage(browser: Browser, url: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
  page.setDefaultTimeout(60_000);
  await page.goto(url);
  return page;
}

/**
 * Records the length of the last reply's text every time it changes (in the page; DOM code as a string,
 * the tests compile without the DOM library).
 */
async function watchReplyLengths(page: Page): Promise<void> {
  await page.evaluate(`
    window.replyLengths = [];
    new MutationObserver(() => {
      const last = [...document.querySelectorAll(".msg.assistant .text")].pop();
      const n = last?.textContent?.length ?? 0;
      if (window.replyLengths[window.replyLengths.length - 1] !== n) window.replyLengths.push(n);
    }).observe(document.getElementById("messages"), { childList: true, subtree: true, characterData: true });
  `);
}

const replyLengths = (page: Page) => page.evaluate("window.replyLengths") as Promise<number[]>;

describe("chat page (headless Chromium, embedded Llama 4)", () => {
  let server: HerdServer;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    await buildChatPage();
    await mkdir(ARTIFACTS, { recursive: true });
    [server, browser] = await Promise.all([startHerd([]), launch()]);
    page = await openPage(browser, server.url);
    await page.locator("#model option").first().waitFor({ state: "attached" });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it("lists the served model", async () => {
    expect(await page.locator("#model option").allTextContents()).toEqual(["herd-llama4-random"]);
  });

  it("is one self-contained HTML file: no auth needed, CSP pins the inline script", async () => {
    const res = await server.fetch("/");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await res.text();
    expect(html).toMatch(/<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'sha256-/);
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+stylesheet|https?:\/\/(?!www\.w3\.org)/);
    expect(Buffer.byteLength(html)).toBeLessThan(64 * 1024);
  });

  it("sends a message with the system prompt and settings, and streams the reply", async () => {
    await page.fill("#system", "Be brief.");
    await page.fill("#max-tokens", "24");
    await page.fill("#temperature", "0");
    await watchReplyLengths(page);
    await page.fill("#input", "Hello there");
    const request = page.waitForRequest((r) => r.url().endsWith("/v1/chat/completions"));
    await page.press("#input", "Enter");
    const body = (await request).postDataJSON() as {
      messages: { role: string; content: unknown }[];
      stream: boolean;
      max_tokens: number;
      temperature: number;
      stream_options: unknown;
    };
    expect(body).toMatchObject({ stream: true, max_tokens: 24, temperature: 0, stream_options: { include_usage: true } });
    expect(body.messages).toEqual([
      { role: "system", content: "Be brief." },
      { role: "user", content: "Hello there" },
    ]);
    await expect.poll(() => page.locator("#stop").isVisible()).toBe(true);
    const reply = page.locator(".msg.assistant").last();
    await reply.and(page.locator(":not(.streaming)")).waitFor();
    await expect.poll(() => reply.locator(".meta").textContent()).toMatch(/^TTFT \d+ ms · 24 tokens · [\d.]+ tok\/s · finish: length$/);
    const lengths = await replyLengths(page);
    // Streamed: the text grew in several steps, not in one piece at the end.
    expect(lengths.filter((n) => n > 0).length).toBeGreaterThanOrEqual(3);
    expect((await reply.locator(".text").textContent())!.length).toBe(lengths[lengths.length - 1]);
    expect(await page.locator("#send").isVisible()).toBe(true);
    expect(await page.locator(".msg.user .text").last().textContent()).toBe("Hello there");
  });

  it("attaches images (file picker and drag and drop) as thumbnails and sends them as data URLs", async () => {
    const png = encodePng(48, 32, renderImage({ width: 48, height: 32, seed: 7 }));
    const file = join(ARTIFACTS, "attach.png");
    await writeFile(file, png);
    await page.setInputFiles("#file", file);
    await expect.poll(() => page.locator("#attachments .thumb img").count()).toBe(1);
    // Drag and drop a second image onto the page.
    const dataTransfer = await page.evaluateHandle(`(() => {
      const dt = new DataTransfer();
      const bytes = Uint8Array.from(atob("${png.toString("base64")}"), (c) => c.charCodeAt(0));
      dt.items.add(new File([bytes], "dropped.png", { type: "image/png" }));
      return dt;
    })()`);
    await page.dispatchEvent("body", "drop", { dataTransfer });
    await expect.poll(() => page.locator("#attachments .thumb img").count()).toBe(2);
    const srcs = await page.locator("#attachments .thumb img").evaluateAll((imgs) => imgs.map((i) => i.getAttribute("src")));
    expect(srcs).toEqual([`data:image/png;base64,${png.toString("base64")}`, `data:image/png;base64,${png.toString("base64")}`]);
    expect(
      await page
        .locator("#attachments .thumb img")
        .first()
        .evaluate((i) => (i as unknown as { naturalWidth: number }).naturalWidth),
    ).toBe(48);
    await page.screenshot({ path: join(ARTIFACTS, "chat-page-attachments.png") });
    // Remove the second one, then send.
    await page.locator("#attachments .thumb button").last().click();
    await expect.poll(() => page.locator("#attachments .thumb").count()).toBe(1);

    await page.fill("#input", "What is in this picture?");
    const request = page.waitForRequest((r) => r.url().endsWith("/v1/chat/completions"));
    const response = page.waitForResponse((r) => r.url().endsWith("/v1/chat/completions"));
    await page.click("#send");
    const body = (await request).postDataJSON() as { messages: { role: string; content: unknown }[] };
    expect(body.messages[body.messages.length - 1]).toEqual({
      role: "user",
      content: [
        { type: "image_url", image_url: { url: `data:image/png;base64,${png.toString("base64")}` } },
        { type: "text", text: "What is in this picture?" },
      ],
    });
    // History: the first exchange went along, the assistant's streamed text included.
    expect(body.messages.map((m) => m.role)).toEqual(["system", "user", "assistant", "user"]);
    expect(await page.locator("#attachments .thumb").count()).toBe(0);
    expect(await page.locator(".msg.user").last().locator(".images img").count()).toBe(1);
    const res = await response;
    const reply = page.locator(".msg.assistant").last();
    await reply.and(page.locator(":not(.streaming)")).waitFor();
    if (res.status() === 200) {
      await expect.poll(() => reply.locator(".meta").textContent()).toMatch(/tokens/);
    } else {
      // A server without image input says so; the page shows its message, not a blank reply.
      const err = (await res.json()) as { error: { message: string } };
      expect(await reply.getAttribute("class")).toContain("error");
      expect(await reply.locator(".text").textContent()).toBe(err.error.message);
      expect(await reply.locator(".meta").textContent()).toBe(`HTTP ${res.status()}`);
    }
  });

  it("stops a reply", async () => {
    await page.fill("#max-tokens", "4000");
    await page.fill("#input", "Tell me a very long story.");
    await page.press("#input", "Enter");
    const reply = page.locator(".msg.assistant").last();
    await expect.poll(async () => (await reply.locator(".text").textContent())?.length ?? 0).toBeGreaterThan(12);
    await page.click("#stop");
    await reply.and(page.locator(".stopped")).waitFor();
    const meta = (await reply.locator(".meta").textContent())!;
    expect(meta).toMatch(/^TTFT \d+ ms · \d+ tokens.* · stopped$/);
    expect(Number(/(\d+) tokens/.exec(meta)![1])).toBeLessThan(4000);
    const text = await reply.locator(".text").textContent();
    await new Promise((r) => setTimeout(r, 500));
    expect(await reply.locator(".text").textContent()).toBe(text); // nothing arrives after the stop
    expect(await page.locator("#send").isVisible()).toBe(true);
    expect(await page.locator("#stop").isVisible()).toBe(false);
    await page.screenshot({ path: join(ARTIFACTS, "chat-page.png") });
  });
});

describe("chat page with --api-key", () => {
  let server: HerdServer;
  let browser: Browser;

  beforeAll(async () => {
    [server, browser] = await Promise.all([startHerd(["--api-key", "sekret"]), launch()]);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it("asks for the key, then lists models and chats with it", async () => {
    expect((await server.fetch("/")).status).toBe(200); // the page itself needs no key
    const page = await openPage(browser, server.url);
    const dialog = page.locator("#key-dialog");
    await dialog.and(page.locator("[open]")).waitFor();
    expect(await page.locator("#key-reason").textContent()).toBe("This server requires an API key.");
    await page.fill("#key-input", "wrong");
    await page.click("#key-save");
    await expect.poll(() => page.locator("#key-reason").textContent()).toMatch(/refused/);
    await page.fill("#key-input", "sekret");
    await page.click("#key-save");
    await expect.poll(() => page.locator("#model option").allTextContents()).toEqual(["herd-llama4-random"]);
    await page.fill("#max-tokens", "4");
    await page.fill("#input", "Hi");
    const request = page.waitForRequest((r) => r.url().endsWith("/v1/chat/completions"));
    await page.press("#input", "Enter");
    expect((await request).headers().authorization).toBe("Bearer sekret");
    const reply = page.locator(".msg.assistant").last();
    await reply.and(page.locator(":not(.streaming)")).waitFor();
    expect(await reply.locator(".meta").textContent()).toMatch(/4 tokens/);
  });
});
