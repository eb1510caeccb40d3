import { describe, expect, it } from "vitest";
import { ChatCompletionRequestSchema } from "../protocol/chat.js";
import { CompletionRequestSchema } from "../protocol/completions.js";
import { formatParamPath, parseRequest } from "./validation.js";

function errorOf(fn: () => unknown): { message: string; param: string | null; code: string | null } {
  try {
    fn();
  } catch (err) {
    return err as { message: string; param: string | null; code: string | null };
  }
  throw new Error("expected an error");
}

describe("request validation", () => {
  it("formats paths the OpenAI way", () => {
    expect(formatParamPath(["messages", 0, "content", 2, "text"])).toBe("messages[0].content[2].text");
  });

  it("strips unknown fields and treats null as absent", () => {
    const r = parseRequest(CompletionRequestSchema, { prompt: "x", temperature: null, whatever: 1 });
    expect(r).not.toHaveProperty("whatever");
    expect(r.temperature).toBeNull();
  });

  it("names the parameter and the types, not the value", () => {
    const e = errorOf(() => parseRequest(CompletionRequestSchema, { prompt: "PRIVATE", max_tokens: "PRIVATE" }));
    expect(e).toMatchObject({ param: "max_tokens", code: "invalid_parameter" });
    expect(e.message).toBe("Invalid type for 'max_tokens': expected number, got string.");
  });

  it("reports missing parameters", () => {
    expect(errorOf(() => parseRequest(CompletionRequestSchema, {}))).toMatchObject({ param: "prompt", code: "missing_required_parameter" });
    expect(errorOf(() => parseRequest(ChatCompletionRequestSchema, {}))).toMatchObject({
      param: "messages",
      code: "missing_required_parameter",
    });
  });

  it("reports a union at the union unless one branch clearly applies", () => {
    const mixed = errorOf(() => parseRequest(CompletionRequestSchema, { prompt: ["a", 1] }));
    expect(mixed.param).toBe("prompt");
    expect(mixed.message).toMatch(/a list of token ids/);
    const part = errorOf(() =>
      parseRequest(ChatCompletionRequestSchema, { messages: [{ role: "user", content: [{ type: "text", text: 1 }] }] }),
    );
    expect(part.param).toBe("messages[0].content[0].text");
    const stop = errorOf(() => parseRequest(CompletionRequestSchema, { prompt: "x", stop: 5 }));
    expect(stop).toMatchObject({ param: "stop" });
    expect(stop.message).toContain("a string or a list of strings");
  });

  it("reports enums and minimum lengths", () => {
    expect(errorOf(() => parseRequest(ChatCompletionRequestSchema, { messages: [{ role: "robot", content: "x" }] })).message).toContain(
      '"assistant"',
    );
    expect(errorOf(() => parseRequest(ChatCompletionRequestSchema, { messages: [] })).message).toBe(
      "'messages' must have at least 1 item(s).",
    );
  });
});
