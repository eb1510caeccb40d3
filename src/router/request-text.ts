/**
 * The text a request is routed by: a canonical string of its prompt, so that requests sharing a
 * prompt prefix (a system prompt, a conversation's earlier turns) share a prefix here too.
 *
 * - `/v1/chat/completions`: each message as `<|role|>content\n`, text parts of array contents
 *   joined (images count as a placeholder), in order;
 *   - `/v1/completions`: the prompt (a string, or the first of an array; token arrays are joined);
 * - anything else, or a body that is not JSON: "" (routed by load alone).
 * The body is not validated here: the worker does that and answers with its own error.
 * @module
 */

function contentText(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content
    .map((part: unknown) => {
      if (typeof part === "string") return part;
      if (part && typeof part === "object" && "text" in part && typeof part.text === "string") return part.text;
      return "<|media|>";
    })
    .join("");
}

function promptText(prompt: unknown): string {
  if (typeof prompt === "string") return prompt;
  if (Array.isArray(prompt) && prompt.length > 0) {
    const first: unknown = prompt[0];
    if (typeof first === "string") return first;
    if (typeof first === "number") return prompt.join(",");
    if (Array.isArray(first)) return first.join(",");
  }
  return "";
}

/** The routing text of a request to `path` with a JSON `body` (already parsed, or undefined). */
export function routingText(path: string, body: unknown): string {
  if (!body || typeof body !== "object") return "";
  if (path === "/v1/chat/completions" && "messages" in body && Array.isArray(body.messages)) {
    let text = "";
    for (const m of body.messages as unknown[]) {
      if (!m || typeof m !== "object") continue;
      const role = "role" in m && typeof m.role === "string" ? m.role : "";
      text += `<|${role}|>${contentText("content" in m ? m.content : undefined)}\n`;
    }
    return text;
  }
  if (path === "/v1/completions" && "prompt" in body) return promptText(body.prompt);
  return "";
}
