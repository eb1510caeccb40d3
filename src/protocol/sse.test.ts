import { describe, expect, it } from "vitest";
import { readSseData } from "./sse.js";

const enc = new TextEncoder();

function streamOf(chunks: ReadonlyArray<string | Uint8Array>, onCancel?: () => void): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(c) {
      for (const ch of chunks) c.enqueue(typeof ch === "string" ? enc.encode(ch) : ch);
      if (!onCancel) c.close();
    },
    cancel: onCancel,
  });
}

async function collect(body: ReadableStream<Uint8Array>): Promise<string[]> {
  const out: string[] = [];
  for await (const d of readSseData(body)) out.push(d);
  return out;
}

describe("readSseData", () => {
  it("reassembles events split anywhere, several per read, CRLF or LF, multi-line data, a UTF-8 character cut in half", async () => {
    const euro = enc.encode('data: {"t":"€"}\n\n');
    const cut = euro.indexOf(0xe2) + 1;
    const events = await collect(
      streamOf(['data: {"a"', ":1}\r\n\r\n: comment\n\ndata: x\ndata: y\n\n", euro.slice(0, cut), euro.slice(cut), "data: [DONE]\n\n"]),
    );
    expect(events).toEqual(['{"a":1}', "x\ny", '{"t":"€"}', "[DONE]"]);
  });

  it("drops one leading space from the value: `data: x` = `data:x`; `data` alone is an empty line", async () => {
    const events = await collect(streamOf(["data: x\n\ndata:x\n\ndata:  x\n\ndata\ndata: y\n\ndata:\n\n"]));
    expect(events).toEqual(["x", "x", " x", "\ny", ""]);
  });

  it("ends lines at LF, CRLF or a lone CR, also when a CRLF or CR CR is split between reads", async () => {
    const events = await collect(streamOf(["data: a\r\n\r\ndata: b\r\rdata: c\r", "\n\r", "\ndata: d\r", "\rdata: e\n\n"]));
    expect(events).toEqual(["a", "b", "c", "d", "e"]);
  });

  it("ignores comments and the other fields (event, id, retry); a blank line without data is no event", async () => {
    const events = await collect(streamOf([": hi\n\nevent: ping\nid: 7\nretry: 10\n\nevent: x\ndata: 1\n\n\n\n"]));
    expect(events).toEqual(["1"]);
  });

  it("drops an event the stream ends in the middle of (no blank line after it), as the spec and openai-node do", async () => {
    expect(await collect(streamOf(["data: 1\n\ndata: [DONE]"]))).toEqual(["1"]);
    expect(await collect(streamOf(['data: 1\n\ndata: {"cut":\n']))).toEqual(["1"]);
  });

  it("cancels the body when the reader stops early, so the server sees the client go", async () => {
    let cancelled = false;
    const body = streamOf(["data: 1\n\ndata: 2\n\n"], () => {
      cancelled = true;
    });
    for await (const d of readSseData(body)) {
      expect(d).toBe("1");
      break;
    }
    expect(cancelled).toBe(true);
  });
});
