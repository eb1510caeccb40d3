import { describe, expect, it } from "vitest";
import {
  AuthenticationError,
  CapacityError,
  ContextLengthExceededError,
  EngineDeadError,
  InternalError,
  InvalidRequestError,
  NotFoundError,
  PayloadTooLargeError,
  type ServeError,
  UnavailableError,
} from "../common/errors.js";
import { type EngineError, type EngineErrorKind, fromEngineError, toEngineError } from "./errors.js";

/** Through the wire as the IPC channel carries it (plain data; JSON is the stricter test). */
const roundTrip = (err: unknown): ServeError => fromEngineError(JSON.parse(JSON.stringify(toEngineError(err))) as EngineError);

/** One error of every kind, each as the engine or the server would raise it. */
const cases: Record<EngineErrorKind, ServeError> = {
  invalid_request: new InvalidRequestError("top_p must be in (0, 1] (got 2)", { param: "top_p", code: "invalid_parameter" }),
  context_length_exceeded: new ContextLengthExceededError(600, 512, " and asks for 100 output tokens (max_tokens)"),
  authentication: new AuthenticationError("no key"),
  not_found: new NotFoundError("no model", { param: "model", code: "model_not_found" }),
  too_large: new PayloadTooLargeError("big"),
  capacity: new CapacityError("the server is at capacity", 2500),
  unavailable: new UnavailableError("draining"),
  engine_dead: new EngineDeadError(),
  internal: new InternalError("oops", { code: "internal_error" }),
};

describe("engine errors", () => {
  it.each(Object.entries(cases))("%s keeps its class, message, param, code and extras across the wire", (kind, err) => {
    const wire = toEngineError(err);
    expect(wire.kind).toBe(kind);
    const back = roundTrip(err);
    expect(back.constructor).toBe(err.constructor);
    expect(back.kind).toBe(err.kind);
    expect(back.message).toBe(err.message);
    expect(back.param).toBe(err.param);
    expect(back.code).toBe(err.code);
    if (err instanceof CapacityError) expect((back as CapacityError).retryAfterMs).toBe(2500);
    if (err instanceof ContextLengthExceededError) {
      expect((back as ContextLengthExceededError).numPromptTokens).toBe(600);
      expect((back as ContextLengthExceededError).maxModelLen).toBe(512);
    }
  });

  it("carries the cause's message", () => {
    const back = roundTrip(new EngineDeadError(undefined, new Error("the engine process exited (SIGABRT)")));
    expect(back).toBeInstanceOf(EngineDeadError);
    expect((back.cause as Error).message).toBe("the engine process exited (SIGABRT)");
  });

  it("turns anything else into an internal error that hides its message (kept as the cause)", () => {
    for (const thrown of [new TypeError("secret detail"), "secret detail"]) {
      const back = roundTrip(thrown);
      expect(back).toBeInstanceOf(InternalError);
      expect(back.message).not.toContain("secret");
      expect((back.cause as Error).message).toBe("secret detail");
    }
  });

  it("maps a kind it does not know to an internal error, never a plain Error", () => {
    const back = fromEngineError({ kind: "overheated", message: "too hot", param: null, code: null } as unknown as EngineError);
    expect(back).toBeInstanceOf(InternalError);
    expect(back.message).not.toContain("too hot");
    expect((back.cause as Error).message).toMatch(/unknown engine error kind "overheated": too hot/);
  });
});
