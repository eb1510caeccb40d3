/**
 * The llama.cpp flags that give a peer (llama-server, llama-batched-bench) the same footing as herd:
 * model, KV cells, batch sizes, threads, one unified cache with full-size sliding-window layers (as
 * herd's runner sets), flash attention as llama.cpp chooses. Shared by bench/engine.ts and
 * bench/vs-llama-server.ts.
 * @module
 */
export function llamaPeerFlags(o: { model: string; kvTokens: number; batchTokens: number; threads: number }): string[] {
  return [
    "-m",
    o.model,
    "-c",
    String(o.kvTokens),
    "-b",
    String(o.batchTokens),
    "-ub",
    String(Math.min(512, o.batchTokens)),
    "-t",
    String(o.threads),
    "-tb",
    String(o.threads),
    "-kvu",
    "--swa-full",
    "-fa",
    "auto",
  ];
}
