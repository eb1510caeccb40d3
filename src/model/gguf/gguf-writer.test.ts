import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { readGgufFileInfo } from "node-llama-cpp";
import { GgmlType, GgufWriter, GgufValueType, f32ToBf16, f32ToF16, gguf, tensorByteSize } from "./gguf-writer.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "herd-gguf-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function sample(w: GgufWriter): GgufWriter {
  const ramp = (n: number) => Float32Array.from({ length: n }, (_, i) => i / 8 - 1);
  return w
    .set("general.architecture", gguf.str("test"))
    .set("general.name", gguf.str("round trip ✓"))
    .set("t.u8", gguf.u8(200))
    .set("t.i8", gguf.i8(-100))
    .set("t.u16", gguf.u16(60000))
    .set("t.i16", gguf.i16(-30000))
    .set("t.u32", gguf.u32(4000000000))
    .set("t.i32", gguf.i32(-2000000000))
    .set("t.u64", gguf.u64(2n ** 40n))
    .set("t.i64", gguf.i64(-(2 ** 40)))
    .set("t.f32", gguf.f32(0.5))
    .set("t.f64", gguf.f64(1e-300))
    .set("t.bool", gguf.bool(true))
    .set("t.strs", gguf.strArr(["a", "", "Ġhello", "<|eot|>"]))
    .set("t.ints", gguf.i32Arr(Int32Array.from([3, -1, 7])))
    .set("t.floats", gguf.f32Arr([0.25, -2]))
    .set("t.u8s", gguf.arr(GgufValueType.UINT8, [1, 2, 3]))
    .addTensor({ name: "a.f32", shape: [5, 3], type: GgmlType.F32, data: ramp(15) })
    .addTensor({
      name: "b.f16",
      shape: [4, 2, 3],
      type: GgmlType.F16,
      data: {
        f32: function* () {
          yield ramp(24).subarray(0, 10);
          yield ramp(24).subarray(10);
        },
      },
    })
    .addTensor({ name: "c.bf16", shape: [7], type: GgmlType.BF16, data: ramp(7) })
    .addTensor({ name: "d.raw_q8_0", shape: [32, 2], type: GgmlType.Q8_0, data: { raw: () => [new Uint8Array(68).fill(1)] } });
}

describe("GgufWriter", () => {
  it("round-trips metadata and tensor infos through node-llama-cpp's GGUF reader", async () => {
    const path = join(dir, "rt.gguf");
    const res = await sample(new GgufWriter(path)).write();
    expect(res.tensorCount).toBe(4);
    const info = await readGgufFileInfo(path, { logWarnings: false });
    expect(info.version).toBe(3);
    const md = info.metadata as unknown as Record<string, Record<string, unknown>>;
    expect(md.general).toMatchObject({ architecture: "test", name: "round trip ✓" });
    expect(md.t).toMatchObject({
      u8: 200,
      i8: -100,
      u16: 60000,
      i16: -30000,
      u32: 4000000000,
      i32: -2000000000,
      f32: 0.5,
      f64: 1e-300,
      bool: true,
      strs: ["a", "", "Ġhello", "<|eot|>"],
      ints: [3, -1, 7],
      floats: [0.25, -2],
      u8s: [1, 2, 3],
    });
    expect(BigInt(md.t!.u64 as number | bigint)).toBe(2n ** 40n);
    expect(BigInt(md.t!.i64 as number | bigint)).toBe(-(2n ** 40n));
    const ti = info.fullTensorInfo ?? info.tensorInfo!;
    expect(ti.map((t) => [t.name, t.dimensions.map(Number), t.ggmlType, Number(t.offset)])).toEqual([
      ["a.f32", [5, 3], GgmlType.F32, 0],
      ["b.f16", [4, 2, 3], GgmlType.F16, 64],
      ["c.bf16", [7], GgmlType.BF16, 128],
      ["d.raw_q8_0", [32, 2], GgmlType.Q8_0, 160],
    ]);
    // Data: the first tensor starts at a 32-byte boundary and holds the f32 values.
    const bytes = await readFile(path);
    const start = Number(ti[0]!.fileOffset);
    expect(start % 32).toBe(0);
    const f32 = new Float32Array(bytes.buffer.slice(bytes.byteOffset + start, bytes.byteOffset + start + 60));
    expect(Array.from(f32)).toEqual(Array.from({ length: 15 }, (_, i) => i / 8 - 1));
    const f16 = new Uint16Array(bytes.buffer.slice(bytes.byteOffset + start + 64, bytes.byteOffset + start + 64 + 48));
    expect(Array.from(f16)).toEqual(Array.from({ length: 24 }, (_, i) => f32ToF16(i / 8 - 1)));
    expect(bytes.length).toBe(start + 160 + 96); // 68 bytes of q8_0 padded to 96
    expect(res.bytes).toBe(bytes.length);
    // No temp file left behind.
    expect((await readdir(dir)).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  it("is byte-identical for identical inputs", async () => {
    await sample(new GgufWriter(join(dir, "d1.gguf"))).write();
    await sample(new GgufWriter(join(dir, "d2.gguf"))).write();
    const h = async (p: string) =>
      createHash("sha256")
        .update(await readFile(join(dir, p)))
        .digest("hex");
    expect(await h("d1.gguf")).toBe(await h("d2.gguf"));
  });

  it("honours general.alignment", async () => {
    const path = join(dir, "align.gguf");
    await new GgufWriter(path, { alignment: 64 })
      .set("general.architecture", gguf.str("test"))
      .addTensor({ name: "x", shape: [3], type: GgmlType.F32, data: new Float32Array(3) })
      .addTensor({ name: "y", shape: [3], type: GgmlType.F32, data: new Float32Array(3) })
      .write();
    const info = await readGgufFileInfo(path, { logWarnings: false });
    expect((info.metadata as unknown as Record<string, Record<string, unknown>>).general!.alignment).toBe(64);
    expect(info.tensorInfo!.map((t) => Number(t.offset))).toEqual([0, 64]);
    expect(Number(info.tensorInfo![0]!.fileOffset) % 64).toBe(0);
    expect((await readFile(path)).length).toBe(Number(info.tensorInfo![0]!.fileOffset) + 128);
  });

  it("rejects bad input before or while writing, leaving no file", async () => {
    const w = new GgufWriter(join(dir, "bad.gguf"));
    w.set("k", gguf.u32(1));
    expect(() => w.set("k", gguf.u32(2))).toThrow(/twice/);
    expect(() => w.addTensor({ name: "q", shape: [33], type: GgmlType.Q8_0, data: { raw: () => [] } })).toThrow(/block size/);
    expect(() => w.addTensor({ name: "q", shape: [32], type: GgmlType.Q8_0, data: new Float32Array(32) })).toThrow(/F32, F16 or BF16/);
    w.addTensor({ name: "short", shape: [8], type: GgmlType.F16, data: { f32: () => [new Float32Array(7)] } });
    await expect(w.write()).rejects.toThrow(/7 values, expected 8/);
    expect(await readdir(dir)).not.toContain("bad.gguf");
    expect((await readdir(dir)).filter((f) => f.endsWith(".tmp"))).toEqual([]);
    expect(() => new GgufWriter("x", { alignment: 48 })).toThrow(/power of two/);
  });

  it("converts floats like ggml (round to nearest even)", () => {
    expect(f32ToF16(1)).toBe(0x3c00);
    expect(f32ToF16(-2)).toBe(0xc000);
    expect(f32ToF16(65504)).toBe(0x7bff);
    expect(f32ToF16(1e6)).toBe(0x7c00);
    expect(f32ToF16(2 ** -24)).toBe(0x0001); // smallest subnormal
    expect(f32ToF16(2 ** -26)).toBe(0x0000);
    expect(f32ToF16(1 + 2 ** -11)).toBe(0x3c00); // tie → even
    expect(f32ToF16(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie → even (up)
    expect(f32ToF16(NaN) & 0x7e00).toBe(0x7e00);
    expect(f32ToBf16(1)).toBe(0x3f80);
    expect(f32ToBf16(-0.5)).toBe(0xbf00);
    expect(tensorByteSize(GgmlType.Q4_K, [256, 4])).toBe(4 * 144);
  });
});
