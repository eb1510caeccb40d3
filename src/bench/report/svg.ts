/**
 * Dependency-free SVG line charts for the benchmark report: linear axes with round ticks, one
 * polyline (plus point markers) per series, a legend. Output is a self-contained `<svg>` string.
 * @module
 */

export interface Series {
  readonly name: string;
  readonly points: readonly (readonly [number, number])[];
  /** Dashed line (e.g. p99 next to a solid median). */
  readonly dashed?: boolean;
  /** Draw point markers (sweeps); CDFs leave them off. */
  readonly markers?: boolean;
  /** Text next to each point (e.g. "c8"). */
  readonly pointLabels?: readonly string[];
  /** Colour index; series sharing one share a colour. */
  readonly colorIndex: number;
}

export interface ChartSpec {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly Series[];
  /** Step line (for CDFs). */
  readonly step?: boolean;
  /** Where the legend goes (default top left; CDFs keep bottom right clear). */
  readonly legend?: "top-left" | "bottom-right";
}

const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#be185d", "#4d7c0f"];

const W = 560;
const H = 340;
const M = { left: 64, right: 16, top: 36, bottom: 48 };

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** About `count` round tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) hi = lo + 1;
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 2.5, 5, 10].find((f) => f * mag >= raw) ?? 10) * mag;
  const out: number[] = [];
  const last = Math.ceil(hi / step - 1e-9) * step;
  for (let v = Math.floor(lo / step) * step; v <= last + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function fmt(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 10000) return `${(v / 1000).toFixed(0)}k`;
  if (a >= 100) return v.toFixed(0);
  if (a >= 1) return Number(v.toFixed(2)).toString();
  return Number(v.toPrecision(2)).toString();
}

function path(points: readonly (readonly [number, number])[], step: boolean): string {
  let d = "";
  points.forEach(([x, y], i) => {
    if (i === 0) d += `M${x.toFixed(1)},${y.toFixed(1)}`;
    else if (step) d += `H${x.toFixed(1)}V${y.toFixed(1)}`;
    else d += `L${x.toFixed(1)},${y.toFixed(1)}`;
  });
  return d;
}

export function lineChart(spec: ChartSpec): string {
  const all = spec.series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  const xTicks = niceTicks(Math.min(0, ...xs), xs.length > 0 ? Math.max(...xs) : 1);
  const yTicks = niceTicks(0, ys.length > 0 ? Math.max(...ys) : 1);
  const [x0, x1] = [xTicks[0]!, xTicks[xTicks.length - 1]!];
  const [y0, y1] = [yTicks[0]!, yTicks[yTicks.length - 1]!];
  const px = (x: number) => M.left + ((x - x0) / (x1 - x0 || 1)) * (W - M.left - M.right);
  const py = (y: number) => H - M.bottom - ((y - y0) / (y1 - y0 || 1)) * (H - M.top - M.bottom);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" role="img" aria-label="${escapeXml(spec.title)}" ` +
      `font-family="system-ui, sans-serif" font-size="11">`,
    `<text x="${W / 2}" y="18" text-anchor="middle" font-size="13" font-weight="600">${escapeXml(spec.title)}</text>`,
  ];
  for (const t of yTicks)
    parts.push(
      `<line x1="${M.left}" x2="${W - M.right}" y1="${py(t).toFixed(1)}" y2="${py(t).toFixed(1)}" stroke="#e5e7eb"/>` +
        `<text x="${M.left - 6}" y="${(py(t) + 4).toFixed(1)}" text-anchor="end" fill="#374151">${fmt(t)}</text>`,
    );
  for (const t of xTicks)
    parts.push(
      `<line x1="${px(t).toFixed(1)}" x2="${px(t).toFixed(1)}" y1="${M.top}" y2="${H - M.bottom}" stroke="#f3f4f6"/>` +
        `<text x="${px(t).toFixed(1)}" y="${H - M.bottom + 16}" text-anchor="middle" fill="#374151">${fmt(t)}</text>`,
    );
  parts.push(
    `<rect x="${M.left}" y="${M.top}" width="${W - M.left - M.right}" height="${H - M.top - M.bottom}" fill="none" stroke="#9ca3af"/>`,
  );
  parts.push(`<text x="${(M.left + W - M.right) / 2}" y="${H - 10}" text-anchor="middle" fill="#111827">${escapeXml(spec.xLabel)}</text>`);
  parts.push(
    `<text transform="translate(16 ${(M.top + H - M.bottom) / 2}) rotate(-90)" ` +
      `text-anchor="middle" fill="#111827">${escapeXml(spec.yLabel)}</text>`,
  );
  spec.series.forEach((s, i) => {
    const color = PALETTE[s.colorIndex % PALETTE.length]!;
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)).map(([x, y]) => [px(x), py(y)] as const);
    if (pts.length > 1)
      parts.push(
        `<path d="${path(pts, spec.step ?? false)}" fill="none" ` +
          `stroke="${color}" stroke-width="1.8"${s.dashed ? ' stroke-dasharray="5 4"' : ""}/>`,
      );
    if (s.markers || pts.length === 1)
      pts.forEach(([x, y]) =>
        parts.push(`<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="3" fill="${s.dashed ? "#fff" : color}" stroke="${color}"/>`),
      );
    s.pointLabels?.forEach((label, j) => {
      const p = pts[j];
      if (p)
        parts.push(
          `<text x="${(p[0] + 5).toFixed(1)}" y="${(p[1] - 5).toFixed(1)}" fill="${color}" font-size="10">${escapeXml(label)}</text>`,
        );
    });
    const bottom = spec.legend === "bottom-right";
    const ly = bottom ? H - M.bottom - 10 - (spec.series.length - 1 - i) * 14 : M.top + 8 + i * 14;
    const lx = bottom ? W - M.right - 10 - 26 - 6.2 * Math.max(...spec.series.map((x) => x.name.length)) : M.left + 10;
    parts.push(
      `<line x1="${lx.toFixed(1)}" x2="${(lx + 20).toFixed(1)}" y1="${ly}" y2="${ly}" ` +
        `stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5 4"' : ""}/>` +
        `<text x="${(lx + 25).toFixed(1)}" y="${ly + 4}" fill="#111827">${escapeXml(s.name)}</text>`,
    );
  });
  parts.push("</svg>");
  return parts.join("");
}

/** The empirical CDF of `values` as step points (x = value, y = fraction ≤ x), thinned to ≤ 200 points. */
export function cdfPoints(values: readonly number[]): [number, number][] {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  if (n === 0) return [];
  const stride = Math.max(1, Math.floor(n / 200));
  const out: [number, number][] = [[sorted[0]!, 0]];
  for (let i = 0; i < n; i += stride) out.push([sorted[i]!, (i + 1) / n]);
  out.push([sorted[n - 1]!, 1]);
  return out;
}
