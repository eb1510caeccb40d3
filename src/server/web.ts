/**
 * The chat page at `/`: one self-contained HTML file built from web/ (`npm run build` writes
 * `dist/web/index.html`; its inline script and style are pinned by a CSP hash). It is mounted before
 * the bearer-auth middleware: the page holds no data, and asks for the API key itself when the
 * API answers 401.
 * @module
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Hono } from "hono";

/** The package root: the nearest directory above this file whose package.json is herd's. */
function packageRoot(): string | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, "utf8")) as { name?: string }).name === "herd") return dir;
      } catch {
        /* keep looking */
      }
    }
    dir = dirname(dir);
  }
  return null;
}

function chatPagePath(): string | null {
  const root = packageRoot();
  return root === null ? null : join(root, "dist/web/index.html");
}

const NOT_BUILT =
  `<!doctype html><meta charset="utf-8"><title>herd</title><p>The chat page is not built. ` +
  `Run <code>npm run build</code> (or <code>npx tsx web/build.ts</code>) and reload. The API is at <code>/v1</code>.</p>`;

/** Registers `GET /` (call before auth middleware). The file is read per request: it is small, and a rebuild shows on reload. */
// biome-ignore lint/suspicious/noExplicitAny: any app's variables
export function mountChatPage(app: Hono<any>): void {
  const path = chatPagePath();
  app.get("/", (c) => {
    const html = path !== null && existsSync(path) ? readFileSync(path, "utf8") : null;
    c.header("cache-control", "no-cache");
    c.header("x-content-type-options", "nosniff");
    c.header("x-frame-options", "DENY");
    return c.html(html ?? NOT_BUILT, html === null ? 503 : 200);
  });
}
