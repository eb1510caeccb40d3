/**
 * Chat prompts: the model's own Jinja template from the GGUF (`tokenizer.chat_template`), rendered by
 * `@huggingface/jinja`; a built-in Llama 4 template when the file has none (or one this Jinja cannot
 * parse).
 *
 * The built-in template follows Meta's layout (`../shared/reference/llama4.md` §3.2): one
 * `<|begin_of_text|>`, then per message `<|header_start|>{role}<|header_end|>\n\n{content}<|eot|>`,
 * roles system/user/assistant and `ipython` for tool results (OpenAI's `tool`), and an open assistant
 * header when `add_generation_prompt`. Templates never see tools: herd writes the tool prompt,
 * earlier tool calls (`[f(a=1)]`) and tool results (role `ipython`) into plain messages first
 * (server/tools/messages.ts), so every Llama 4 template renders tool conversations the same way.
 * @module
 */
import { Template } from "@huggingface/jinja";
import { InvalidRequestError } from "../common/errors.js";
import { renderOnWorker, TemplateRenderError, WORKER_KWARGS_CHARS, WORKER_MESSAGE_THRESHOLD } from "./template-worker.js";

const LLAMA4_CHAT_TEMPLATE = `{{- bos_token }}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content'] | trim %}
    {%- set loop_messages = messages[1:] %}
{%- else %}
    {%- set system_message = none %}
    {%- set loop_messages = messages %}
{%- endif %}
{%- if system_message is not none %}
    {{- '<|header_start|>system<|header_end|>\\n\\n' + system_message + '<|eot|>' }}
{%- endif %}
{%- for message in loop_messages %}
    {%- if message['role'] == 'tool' or message['role'] == 'ipython' %}
        {{- '<|header_start|>ipython<|header_end|>\\n\\n' }}{{- message['content'] }}{{- '<|eot|>' }}
    {%- else %}
        {{- '<|header_start|>' + message['role'] + '<|header_end|>\\n\\n' }}{{- message['content'] | trim }}{{- '<|eot|>' }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|header_start|>assistant<|header_end|>\\n\\n' }}
{%- endif %}`;

/** A message as templates see it: content is always a string (text parts joined with "\n"). */
export interface TemplateMessage {
  role: "system" | "user" | "assistant" | "tool" | "ipython";
  content: string;
  name?: string;
  tool_calls?: Array<{ id?: string; type: "function"; function: { name: string; arguments: string } }>;
  tool_call_id?: string;
}

export interface RenderOptions {
  addGenerationPrompt: boolean;
  /** Extra template variables (vLLM's `chat_template_kwargs`); cannot override the ones above. */
  kwargs?: Record<string, unknown> | undefined;
}

export type ChatTemplateSource = "gguf" | "builtin-llama4";

export class ChatTemplate {
  private constructor(
    readonly source: ChatTemplateSource,
    private readonly template: Template,
    /** The Jinja text (the worker thread compiles its own copy). */
    private readonly text: string,
    readonly bosToken: string,
    readonly eosToken: string,
  ) {}

  /**
   * The model's template when it has one that parses, else the built-in Llama 4 template.
   * `onFallback` hears why the model's own template was not used.
   */
  static create(opts: {
    modelTemplate: string | null;
    bosToken: string;
    eosToken: string;
    onFallback?: (reason: string) => void;
  }): ChatTemplate {
    if (opts.modelTemplate !== null && opts.modelTemplate.trim() !== "") {
      try {
        return new ChatTemplate("gguf", new Template(opts.modelTemplate), opts.modelTemplate, opts.bosToken, opts.eosToken);
      } catch (err) {
        opts.onFallback?.(`the model's chat template does not parse (${err instanceof Error ? err.message : String(err)})`);
      }
    } else {
      opts.onFallback?.("the model has no chat template (tokenizer.chat_template)");
    }
    return new ChatTemplate("builtin-llama4", new Template(LLAMA4_CHAT_TEMPLATE), LLAMA4_CHAT_TEMPLATE, opts.bosToken, opts.eosToken);
  }

  /** The prompt text. Template errors (e.g. `raise_exception`) become 400 on `messages`. */
  render(messages: readonly TemplateMessage[], opts: RenderOptions): string {
    try {
      return this.template.render(this.#vars(messages, opts));
    } catch (err) {
      throw rejected(err);
    }
  }

  /**
   * The same, on a worker thread when the conversation is long (more than
   * `WORKER_MESSAGE_THRESHOLD` messages) or `chat_template_kwargs` is large (a template may loop over
   * what it holds), so rendering never holds the event loop.
   */
  async renderAsync(messages: readonly TemplateMessage[], opts: RenderOptions): Promise<string> {
    const bigKwargs = opts.kwargs !== undefined && JSON.stringify(opts.kwargs).length > WORKER_KWARGS_CHARS;
    if (messages.length <= WORKER_MESSAGE_THRESHOLD && !bigKwargs) return this.render(messages, opts);
    try {
      return await renderOnWorker(this.text, this.#vars(messages, opts));
    } catch (err) {
      if (err instanceof TemplateRenderError) throw rejected(err);
      throw err;
    }
  }

  #vars(messages: readonly TemplateMessage[], opts: RenderOptions): Record<string, unknown> {
    return {
      ...opts.kwargs,
      messages,
      add_generation_prompt: opts.addGenerationPrompt,
      bos_token: this.bosToken,
      eos_token: this.eosToken,
    };
  }
}

function rejected(err: unknown): InvalidRequestError {
  const msg = err instanceof Error ? err.message : String(err);
  return new InvalidRequestError(`The chat template rejected these messages: ${msg}`, { param: "messages", code: "invalid_chat" });
}
