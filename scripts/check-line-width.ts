/**
 * Lint for line width: no line of the files Biome checks (biome.json `files.includes`) may be longer than
 * the formatter's `lineWidth` (140). Biome breaks code, but not string literals, template literals, comments
 * or regex sources; those are split by hand ("..." + "...", template pieces, wrapped comments).
 * Width is counted in characters (Unicode code points), not bytes.
 *
 * Run: npx tsx scripts/check-line-width.ts (part of `npm run lint`). Exits 1 and lists file:line:length of each offender.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "..");
const biome = JSON.parse(readFileSync(join(ROOT, "biome.json"), "utf8")) as {
  files: { includes: string[] };
  formatter: { lineWidth: number };
};
const MAX = biome.formatter.lineWidth;

/** A Biome glob as a RegExp over a /-separated path relative to the root: `**` spans folders, `*` and `?` do not. */
function globToRegExp(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*" && glob[i + 1] === "*") {
      i++;
      if (glob[i + 1] === "/") {
        i++;
        re += "(?:.*/)?";
      } else re += ".*";
    } else if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else re += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}
const include = biome.files.includes.filter((g) => !g.startsWith("!")).map(globToRegExp);
const exclude = biome.files.includes.filter((g) => g.startsWith("!")).map((g) => globToRegExp(g.replace(/^!+/, "")));

function* files(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === "node_modules" || entry.name === ".git") continue;
    const p = join(dir, entry.name);
    if (entry.isDirectory()) yield* files(p);
    else if (entry.isFile()) {
      const rel = relative(ROOT, p).split("\\").join("/");
      if (include.some((re) => re.test(rel)) && !exclude.some((re) => re.test(rel))) yield rel;
    }
  }
}

/** Only the folders the globs start in are walked (src/, test/, ...), not dist/ or scratch/. */
const roots = new Set(
  biome.files.includes
    .filter((g) => !g.startsWith("!"))
    .map((g) => g.slice(0, g.search(/[*?[{]/) < 0 ? g.length : g.search(/[*?[{]/)).replace(/[^/]*$/, "")),
);
const problems: string[] = [];
for (const rel of [...roots].flatMap((r) => (existsSync(join(ROOT, r)) ? [...files(join(ROOT, r))] : []))) {
  const lines = readFileSync(join(ROOT, rel), "utf8").split(/\r?\n/);
  lines.forEach((line, i) => {
    const width = [...line].length;
    if (width > MAX) problems.push(`${rel}:${i + 1}:${width}`);
  });
}
if (problems.length) {
  console.error(`${problems.length} line(s) longer than ${MAX} characters (split the string or comment by hand):`);
  for (const p of problems) console.error(`  ${p}`);
  process.exit(1);
}
console.log(`line width: ok (${MAX} characters)`);
