/**
 * The one server-sent-events reader (bench and the chat page both use it; the server's writer is
 * src/server/sse.ts): yields the `data` of each event from a byte stream, whatever the chunking.
 * Follows the WHATWG event-stream rules that openai-node's decoder (`src/core/streaming.ts`) follows:
 *
 * - lines end in LF, CRLF or a lone CR (a CR at the end of one read may pair with an LF in the next);
 * - a line is `field:value` with one leading space dropped from the value (`data: x` and `data:x`
 *   are the same), or a field name alone (`data` adds an empty line); lines starting with `:` are
 *   comments; fields other than `data` (event, id, retry) are ignored;
 * - a blank line dispatches the event: its data lines joined with "\n" (no data lines, no event);
 * - an event the stream ends in the middle of (no blank line after it) is dropped, as the spec says:
 *   it may be cut short. UTF-8 characters split across reads decode whole.
 *
 * Returning early (a `break` out of the loop) cancels the body, so the server sees the client go.
 * Imports nothing: the chat page bundles it.
 * @module
 */

/** Yields each event's `data`, in order. */
export async function* readSseData(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let data: string[] = [];
  let finished = false;
  try {
    while (!finished) {
      const { value, done } = await reader.read();
      finished = done;
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      let start = 0;
      for (;;) {
        const cr = buffer.indexOf("\r", start);
        const lf = buffer.indexOf("\n", start);
        const end = cr < 0 ? lf : lf < 0 ? cr : Math.min(cr, lf);
        if (end < 0) break;
        // A CR that ends the buffer may be the first half of a CRLF: wait for the next read.
        if (end === cr && end === buffer.length - 1 && !done) break;
        const line = buffer.slice(start, end);
        start = end + (end === cr && buffer[end + 1] === "\n" ? 2 : 1);
        if (line === "") {
          if (data.length > 0) yield data.join("\n");
          data = [];
        } else if (line.startsWith(":")) {
          // a comment
        } else {
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          if (field === "data") {
            const v = colon < 0 ? "" : line.slice(colon + 1);
            data.push(v.startsWith(" ") ? v.slice(1) : v);
          }
        }
      }
      buffer = buffer.slice(start);
    }
  } finally {
    if (finished) reader.releaseLock();
    else await reader.cancel().catch(() => undefined);
  }
}
