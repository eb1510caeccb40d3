/**
 * `response_format` → a GBNF grammar the engine enforces token by token:
 *   - `text`: no grammar;
 *   - `json_object`: any JSON object;
 *   - `json_schema`: the schema converted by `SchemaConverter` (json dialect). `strict` true or
 *     false, the schema is enforced (OpenAI only guarantees it with strict; enforcing it always is
 *     what vLLM does too). Unsupported schema features are a 400 naming each one.
 * Grammars are cached by a hash of the schema.
 * @module
 */
import { InvalidRequestError } from "../../common/errors.js";
import { hashKey, LruCache } from "./cache.js";
import { GrammarBuilder, GrammarTooLargeError, MAX_GRAMMAR_CHARS, type Node } from "./gbnf.js";
import { SchemaConverter, SUPPORTED_SUMMARY } from "./json-schema.js";

export type ResponseFormat =
  | { type: "text" }
  | { type: "json_object" }
  | {
      type: "json_schema";
      json_schema: {
        name?: string | null | undefined;
        schema?: Record<string, unknown> | null | undefined;
        strict?: boolean | null | undefined;
      };
    };

/** Runs a grammar build, turning a grammar that outgrows the limit into the caller's 400 on `param`. */
export function withGrammarLimit<T>(param: string, build: () => T): T {
  try {
    return build();
  } catch (err) {
    if (err instanceof GrammarTooLargeError) {
      throw new InvalidRequestError(
        `The schema is too large: its grammar grows past ${MAX_GRAMMAR_CHARS} characters ` +
          `(nested arrays, objects and alternatives repeat their parts).`,
        {
          param,
          code: "unsupported_schema",
        },
      );
    }
    throw err;
  }
}

const PARAM = "response_format";

/** Throws the 400 for a schema's unsupported features, listing them (at most 20). */
export function refuseIssues(issues: readonly string[], param: string): void {
  if (issues.length === 0) return;
  const shown = issues.slice(0, 20).join("; ");
  const more = issues.length > 20 ? `; and ${issues.length - 20} more` : "";
  throw new InvalidRequestError(
    `This JSON Schema uses features herd cannot enforce with a grammar (refused rather than ignored): ` +
      `${shown}${more}. Supported: ${SUPPORTED_SUMMARY}.`,
    { param, code: "unsupported_schema" },
  );
}

/** GBNF text for `root`, refused when it is longer than the engine takes. */
export function finishGrammar(b: GrammarBuilder, root: Node, param: string): string {
  const gbnf = b.toGbnf(root);
  if (gbnf.length > MAX_GRAMMAR_CHARS) {
    throw new InvalidRequestError(`The schema is too large: its grammar has ${gbnf.length} characters (at most ${MAX_GRAMMAR_CHARS}).`, {
      param,
      code: "unsupported_schema",
    });
  }
  return gbnf;
}

/** The root node of a JSON response format in `b` (null for `text`); throws 400 on unsupported schemas. */
export function responseFormatRoot(b: GrammarBuilder, rf: ResponseFormat): Node | null {
  switch (rf.type) {
    case "text":
      return null;
    case "json_object":
      return new SchemaConverter(b, {}, "json", `${PARAM}`).anyObject();
    case "json_schema": {
      const schema = rf.json_schema.schema;
      if (schema === null || schema === undefined) {
        throw new InvalidRequestError("'response_format.json_schema.schema' is required for type 'json_schema'.", {
          param: `${PARAM}.json_schema.schema`,
          code: "missing_required_parameter",
        });
      }
      const path = `${PARAM}.json_schema.schema`;
      const conv = new SchemaConverter(b, schema, "json", path);
      const root = conv.value(schema, path);
      refuseIssues(conv.issues, `${PARAM}.json_schema.schema`);
      return root;
    }
  }
}

const cache = new LruCache<string>(256);

/** The grammar for a response format (undefined for `text`), cached by the format's hash. */
export function responseFormatGrammar(rf: ResponseFormat | null | undefined): string | undefined {
  if (!rf || rf.type === "text") return undefined;
  const key = hashKey(["response_format", rf.type, rf.type === "json_schema" ? rf.json_schema.schema : null]);
  return cache.getOrCreate(key, () =>
    withGrammarLimit(PARAM, () => {
      const b = new GrammarBuilder();
      return finishGrammar(b, responseFormatRoot(b, rf) as Node, PARAM);
    }),
  );
}

/** Cache statistics (tests, debugging). */
export function responseFormatCacheStats(): { hits: number; misses: number; size: number } {
  return { ...cache.stats, size: cache.size };
}
