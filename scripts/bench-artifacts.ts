/**
 * Compile and artifact-transfer throughput, as ratios against raw disk operations:
 *
 *   compile  GB/s of checkpoint read by `compileCheckpoint` (F16 and BF16) vs reading the same
 *            safetensors files straight through (the ceiling for a streaming converter);
 *   push     upload of the compiled artifact to S3 (local Ceph RGW) vs a raw disk copy;
 *   pull     `pullArtifact` from S3 (parallel ranged, resumable, sha256-verified) vs a raw disk copy.
 *
 * The checkpoint is a synthetic Llama 4 (random BF16 weights, the fixture's tokenizer), about
 * `--gb` GB. S3 needs scripts/test-s3.sh (started here unless --no-s3).
 *
 *   npx tsx scripts/bench-artifacts.ts [--gb 1] [--no-s3] [--keep]
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { copyFile, mkdir, mkdtemp, readdir, rm, stat, writeFile, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { pullArtifact, pushArtifact } from "../src/compile/artifacts.js";
import { compileCheckpoint } from "../src/compile/compile.js";
import type { S3Settings } from "../src/storage/store-url.js";

const args = process.argv.slice(2);
const gb = Number(args[args.indexOf("--gb") + 1] ?? 1) || 1;
const useS3 = !args.includes("--no-s3");
const keep = args.includes("--keep");
const FIXTURE = join(import.meta.dirname, "../../shared/fixtures/llama4-tiny-hf");

const fmt = (bytes: number, ms: number) => `${(bytes / 1e9 / (ms / 1000)).toFixed(2)} GB/s`;

async function timed<T>(f: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const r = await f();
  return [r, performance.now() - t0];
}

/** A Llama 4 checkpoint of ≈`gb` GB: fixture tokenizer, hidden 1024, 16 experts, BF16. */
async function makeCheckpoint(dir: string): Promise<number> {
  await mkdir(dir, { recursive: true });
  for (const f of ["tokenizer.json", "tokenizer_config.json", "generation_config.json"]) await copyFile(join(FIXTURE, f), join(dir, f));
  const H = 1024,
    FF = 1024,
    FFM = 2048,
    E = 16,
    V = 1024,
    HD = 64,
    NH = 16,
    NKV = 4;
  const perLayer = 2 * (H * NH * HD * 2 + H * NKV * HD * 2) + 2 * (E * H * 2 * FF + E * FF * H + 3 * H * FF + E * H) + 4 * H;
  const layers = Math.max(4, Math.round((gb * 1e9) / perLayer));
  const cfg = JSON.parse(await readFile(join(FIXTURE, "config.json"), "utf8")) as {
    text_config: Record<string, unknown>;
    vision_config?: unknown;
  };
  Object.assign(cfg.text_config, {
    hidden_size: H,
    intermediate_size: FF,
    intermediate_size_mlp: FFM,
    num_local_experts: E,
    interleave_moe_layer_step: 1,
    num_hidden_layers: layers,
    num_attention_heads: NH,
    num_key_value_heads: NKV,
    head_dim: HD,
    vocab_size: V,
    moe_layers: Array.from({ length: layers }, (_, i) => i),
    no_rope_layers: Array.from({ length: layers }, (_, i) => ((i + 1) % 4 === 0 ? 0 : 1)),
  });
  delete cfg.vision_config;
  (cfg as Record<string, unknown>).architectures = ["Llama4ForCausalLM"];
  await writeFile(join(dir, "config.json"), JSON.stringify(cfg, null, 2));
  // One shard per 4 layers, written tensor by tensor.
  const tensors: Array<[string, number[]]> = [["language_model.model.embed_tokens.weight", [V, H]]];
  for (let i = 0; i < layers; i++) {
    const p = `language_model.model.layers.${i}.`;
    tensors.push(
      [`${p}input_layernorm.weight`, [H]],
      [`${p}self_attn.q_proj.weight`, [NH * HD, H]],
      [`${p}self_attn.k_proj.weight`, [NKV * HD, H]],
      [`${p}self_attn.v_proj.weight`, [NKV * HD, H]],
      [`${p}self_attn.o_proj.weight`, [H, NH * HD]],
      [`${p}post_attention_layernorm.weight`, [H]],
      [`${p}feed_forward.router.weight`, [E, H]],
      [`${p}feed_forward.experts.gate_up_proj`, [E, H, 2 * FF]],
      [`${p}feed_forward.experts.down_proj`, [E, FF, H]],
      [`${p}feed_forward.shared_expert.gate_proj.weight`, [FF, H]],
      [`${p}feed_forward.shared_expert.up_proj.weight`, [FF, H]],
      [`${p}feed_forward.shared_expert.down_proj.weight`, [H, FF]],
    );
  }
  tensors.push(["language_model.model.norm.weight", [H]], ["language_model.lm_head.weight", [V, H]]);
  const shards: Array<Array<[string, number[]]>> = [];
  for (let i = 0; i < tensors.length; i += 48) shards.push(tensors.slice(i, i + 48));
  const weightMap: Record<string, string> = {};
  let total = 0;
  for (const [si, shard] of shards.entries()) {
    const file = `model-${String(si + 1).padStart(5, "0")}-of-${String(shards.length).padStart(5, "0")}.safetensors`;
    const header: Record<string, unknown> = {};
    let off = 0;
    for (const [name, shape] of shard) {
      const n = shape.reduce((a, b) => a * b, 1) * 2;
      header[name] = { dtype: "BF16", shape, data_offsets: [off, off + n] };
      off += n;
      weightMap[name] = file;
    }
    let json = JSON.stringify(header);
    while ((8 + json.length) % 8) json += " ";
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    const parts: Buffer[] = [len, Buffer.from(json)];
    for (const [, shape] of shard) {
      const b = randomBytes(shape.reduce((a, c) => a * c, 1) * 2);
      // Keep values finite and small: clear the top exponent bits of every bf16.
      for (let i = 1; i < b.length; i += 2) b[i] = b[i]! & 0xbf;
      parts.push(b);
    }
    await writeFile(join(dir, file), Buffer.concat(parts));
    total += off;
  }
  await writeFile(join(dir, "model.safetensors.index.json"), JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }));
  return total;
}

async function readAll(dir: string): Promise<number> {
  let n = 0;
  for (const f of (await readdir(dir)).filter((x) => x.endsWith(".safetensors")))
    for await (const c of createReadStream(join(dir, f), { highWaterMark: 8 << 20 })) n += (c as Buffer).length;
  return n;
}

async function copyDir(from: string, to: string): Promise<number> {
  await mkdir(to, { recursive: true });
  let n = 0;
  for (const f of await readdir(from)) {
    await copyFile(join(from, f), join(to, f));
    n += (await stat(join(from, f))).size;
  }
  return n;
}

const work = await mkdtemp(join(tmpdir(), "herd-bench-artifacts-"));
try {
  const ckpt = join(work, "ckpt");
  const [bytes, genMs] = await timed(() => makeCheckpoint(ckpt));
  console.log(`checkpoint: ${(bytes / 1e9).toFixed(2)} GB of BF16 weights (generated in ${(genMs / 1000).toFixed(1)} s)`);
  const [, rawMs] = await timed(() => readAll(ckpt));
  console.log(`raw read of the safetensors:   ${fmt(bytes, rawMs)}`);
  const results: string[] = [];
  for (const quant of ["BF16", "F16"] as const) {
    const [r] = await timed(() => compileCheckpoint(ckpt, join(work, `art-${quant}`), { quant, name: "bench" }));
    const line =
      `compile ${quant.padEnd(5)} convert ${fmt(r.sourceBytes, r.convertMs)} (total with hashing ${fmt(r.sourceBytes, r.ms)}), ` +
      `ratio to raw read ${(rawMs / r.convertMs).toFixed(2)}`;
    console.log(line);
    results.push(line);
  }
  const art = join(work, "art-F16");
  const [artBytes, copyMs] = await timed(() => copyDir(art, join(work, "copy")));
  console.log(`raw disk copy of the artifact (${(artBytes / 1e9).toFixed(2)} GB): ${fmt(artBytes, copyMs)}`);
  if (useS3) {
    const env = Object.fromEntries(
      execFileSync("bash", [join(import.meta.dirname, "test-s3.sh"), "start"], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] })
        .trim()
        .split("\n")
        .map((l) => l.split("=", 2) as [string, string]),
    );
    try {
      const s3: S3Settings = {
        endpoint: env.AWS_ENDPOINT_URL!,
        region: "us-east-1",
        forcePathStyle: true,
        checksum: "when_required",
        credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID!, secretAccessKey: env.AWS_SECRET_ACCESS_KEY! },
      };
      const c = new S3Client({ endpoint: s3.endpoint, region: "us-east-1", forcePathStyle: true, credentials: s3.credentials });
      await c.send(new CreateBucketCommand({ Bucket: "bench" })).catch(() => {});
      c.destroy();
      const [push, pushMs] = await timed(() => pushArtifact(art, "s3://bench/art", { s3 }));
      console.log(`push to S3 (Ceph RGW):  ${fmt(push.sync.transferredBytes, pushMs)}, ratio to raw copy ${(copyMs / pushMs).toFixed(2)}`);
      const [pull, pullMs] = await timed(() => pullArtifact("s3://bench/art", join(work, "pulled"), { s3 }));
      console.log(`pull from S3 (verified): ${fmt(pull.sync.transferredBytes, pullMs)}, ratio to raw copy ${(copyMs / pullMs).toFixed(2)}`);
    } finally {
      execFileSync("bash", [join(import.meta.dirname, "test-s3.sh"), "stop"], { stdio: "inherit" });
    }
  }
} finally {
  if (!keep) await rm(work, { recursive: true, force: true });
  else console.log(`kept ${work}`);
}
