import { describe, expect, it } from "vitest";
import { routingText } from "./request-text.js";

describe("routingText", () => {
  it("renders chat messages in order, so a shared system prompt is a shared prefix", () => {
    const a = routingText("/v1/chat/completions", {
      messages: [
        { role: "system", content: "S" },
        {
          role: "user",
          content: [
            { type: "text", text: "hi" },
            { type: "image_url", image_url: { url: "x" } },
          ],
        },
      ],
    });
    expect(a).toBe("<|system|>S\n<|user|>hi<|media|>\n");
    const b = routingText("/v1/chat/completions", {
      messages: [
        { role: "system", content: "S" },
        { role: "user", content: "yo" },
      ],
    });
    expect(b.startsWith("<|system|>S\n<|user|>")).toBe(true);
  });

  it("takes the completion prompt", () => {
    expect(routingText("/v1/completions", { prompt: "Once upon" })).toBe("Once upon");
    expect(routingText("/v1/completions", { prompt: ["a", "b"] })).toBe("a");
    expect(routingText("/v1/completions", { prompt: [1, 2, 3] })).toBe("1,2,3");
  });

  it("is empty for other paths and bodies", () => {
    expect(routingText("/tokenize", { prompt: "x" })).toBe("");
    expect(routingText("/v1/chat/completions", undefined)).toBe("");
    expect(routingText("/v1/chat/completions", { messages: "nope" })).toBe("");
  });
});
