/**
 * Builds the chat page into one self-contained file, `dist/web/index.html`: web/src bundled by esbuild
 * (an IIFE, minified) and web/style.css, both inlined into web/index.html, with a Content-Security-Policy
 * that allows exactly those two inline blocks (by hash) and requests to the page's own origin.
 * No CDN, no runtime dependencies. Runs as part of `npm run build` (so `npm ci` builds it too):
 *
 *   npx tsx web/build.ts            # type-checks web/ (tsc -p web), then builds
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build, transform } from "esbuild";

const WEB = dirname(fileURLToPath(import.meta.url));
const ROOT = join(WEB, "..");
/** Where `herd serve` looks for the page (see src/server/web.ts). */
export const CHAT_PAGE_PATH = join(ROOT, "dist/web/index.html");

const hash = (s: string) => `'sha256-${createHash("sha256").update(s, "utf8").digest("base64")}'`;

/** Bundles and inlines the page; returns the path written and its size. */
export async function buildChatPage(outFile = CHAT_PAGE_PATH): Promise<{ path: string; bytes: number }> {
  const bundle = await build({
    entryPoints: [join(WEB, "src/main.ts")],
    bundle: true,
    format: "iife",
    minify: true,
    target: "es2022",
    write: false,
    logLevel: "silent",
  });
  const script = bundle.outputFiles[0]!.text.replace(/<\/script/gi, "<\\/script").trim();
  const style = (await transform(await readFile(join(WEB, "style.css"), "utf8"), { loader: "css", minify: true })).code.trim();
  const csp = [
    "default-src 'none'",
    `script-src ${hash(script)}`,
    `style-src ${hash(style)}`,
    "img-src data: blob:",
    "connect-src 'self'",
    "base-uri 'none'",
  ].join("; ");
  const template = await readFile(join(WEB, "index.html"), "utf8");
  const html = template
    .replace("<!--CSP-->", () => `<meta http-equiv="Content-Security-Policy" content="${csp}">`)
    .replace("/*STYLE*/", () => style)
    .replace("/*SCRIPT*/", () => script);
  await mkdir(dirname(outFile), { recursive: true });
  await writeFile(outFile, html);
  return { path: outFile, bytes: Buffer.byteLength(html) };
}

/** `tsc -p web`: the page's code is type-checked against the DOM library (the root tsconfig has none). */
export function typecheckChatPage(): void {
  execFileSync(process.execPath, [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", join(WEB, "tsconfig.json")], { stdio: "inherit" });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  typecheckChatPage();
  const { path, bytes } = await buildChatPage();
  console.log(`chat page: ${path} (${(bytes / 1024).toFixed(1)} KiB)`);
}
