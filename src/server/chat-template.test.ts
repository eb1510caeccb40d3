import { describe, expect, it } from "vitest";
import { InvalidRequestError } from "../common/errors.js";
import { ChatTemplate } from "./chat-template.js";

const llama4 = (modelTemplate: string | null = null, onFallback?: (r: string) => void) =>
  ChatTemplate.create({ modelTemplate, bosToken: "<|begin_of_text|>", eosToken: "<|eot|>", ...(onFallback ? { onFallback } : {}) });

describe("ChatTemplate", () => {
  it("falls back to the built-in Llama 4 template, and says why", () => {
    const reasons: string[] = [];
    const t = llama4(null, (r) => reasons.push(r));
    expect(t.source).toBe("builtin-llama4");
    expect(reasons[0]).toMatch(/no chat template/);
    const broken = llama4("{% for %}", (r) => reasons.push(r));
    expect(broken.source).toBe("builtin-llama4");
    expect(reasons[1]).toMatch(/does not parse/);
  });

  it("renders Meta's layout: one BOS, headers, <|eot|>, open assistant header", () => {
    const text = llama4().render(
      [
        { role: "system", content: "  Be brief. " },
        { role: "user", content: "Hi" },
        { role: "assistant", content: "Hello!" },
        { role: "user", content: "Bye" },
      ],
      { addGenerationPrompt: true },
    );
    expect(text).toBe(
      "<|begin_of_text|><|header_start|>system<|header_end|>\n\nBe brief.<|eot|>" +
        "<|header_start|>user<|header_end|>\n\nHi<|eot|>" +
        "<|header_start|>assistant<|header_end|>\n\nHello!<|eot|>" +
        "<|header_start|>user<|header_end|>\n\nBye<|eot|>" +
        "<|header_start|>assistant<|header_end|>\n\n",
    );
  });

  it("maps tool results to ipython (tool calls and the tool list arrive as plain text from server/tools)", () => {
    const text = llama4().render(
      [
        { role: "user", content: "Weather in Paris?" },
        { role: "assistant", content: '[get_weather(city="Paris")]' },
        { role: "tool", content: '{"temp_c":18}' },
        { role: "ipython", content: "done" },
      ],
      { addGenerationPrompt: false },
    );
    expect(text).toBe(
      "<|begin_of_text|><|header_start|>user<|header_end|>\n\nWeather in Paris?<|eot|>" +
        '<|header_start|>assistant<|header_end|>\n\n[get_weather(city="Paris")]<|eot|>' +
        '<|header_start|>ipython<|header_end|>\n\n{"temp_c":18}<|eot|>' +
        "<|header_start|>ipython<|header_end|>\n\ndone<|eot|>",
    );
  });

  it("uses the model's own template with bos/eos and kwargs", () => {
    const t = llama4(
      "{{ bos_token }}{% for m in messages %}[{{ m.role }}:{{ m.content }}]{% endfor %}" +
        "{% if add_generation_prompt %}>{{ greeting }}{% endif %}",
    );
    expect(t.source).toBe("gguf");
    expect(t.render([{ role: "user", content: "x" }], { addGenerationPrompt: true, kwargs: { greeting: "hi" } })).toBe(
      "<|begin_of_text|>[user:x]>hi",
    );
  });

  it("turns raise_exception into a 400 on messages", () => {
    const t = llama4("{{ raise_exception('Conversation roles must alternate') }}");
    try {
      t.render([{ role: "user", content: "x" }], { addGenerationPrompt: true });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(InvalidRequestError);
      expect((err as InvalidRequestError).param).toBe("messages");
      expect((err as Error).message).toContain("Conversation roles must alternate");
    }
  });
});

describe("renderAsync", () => {
  it("renders a long conversation on the worker thread exactly as inline", async () => {
    const t = ChatTemplate.create({ modelTemplate: null, bosToken: "<|begin_of_text|>", eosToken: "<|eot|>" });
    const messages = Array.from({ length: 2000 }, (_, i) => ({
      role: i % 2 ? ("assistant" as const) : ("user" as const),
      content: `message ${i}`,
    }));
    const inline = t.render(messages, { addGenerationPrompt: true });
    await expect(t.renderAsync(messages, { addGenerationPrompt: true })).resolves.toBe(inline);
    await expect(t.renderAsync(messages.slice(0, 3), { addGenerationPrompt: true })).resolves.toBe(
      t.render(messages.slice(0, 3), { addGenerationPrompt: true }),
    );
  });

  it("turns a template error on the worker into a 400 on messages", async () => {
    const t = ChatTemplate.create({ modelTemplate: "{{ raise_exception('no ' + messages[0]['content']) }}", bosToken: "", eosToken: "" });
    const messages = Array.from({ length: 300 }, () => ({ role: "user" as const, content: "thanks" }));
    await expect(t.renderAsync(messages, { addGenerationPrompt: true })).rejects.toThrow(/rejected these messages: .*no thanks/);
  });
});
