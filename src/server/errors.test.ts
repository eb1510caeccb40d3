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
  UnavailableError,
} from "../common/errors.js";
import { errorResponse, toErrorResponse } from "./errors.js";

describe("toErrorResponse", () => {
  const cases = [
    [new InvalidRequestError("bad", { param: "temperature" }), 400, "invalid_request_error", "false"],
    [new ContextLengthExceededError(100, 64), 400, "invalid_request_error", "false"],
    [new AuthenticationError("no key"), 401, "authentication_error", "false"],
    [new NotFoundError("no model", { param: "model", code: "model_not_found" }), 404, "not_found_error", "false"],
    [new PayloadTooLargeError("big"), 413, "invalid_request_error", "false"],
    [new CapacityError("full", 2500), 429, "rate_limit_error", "true"],
    [new UnavailableError("draining"), 503, "service_unavailable_error", "true"],
    [new EngineDeadError(), 500, "server_error", "true"],
    [new InternalError("oops"), 500, "server_error", "false"],
  ] as const;

  it.each(cases)("%s → %i", (err, status, type, retry) => {
    const r = toErrorResponse(err);
    expect(r.status).toBe(status);
    expect(r.body.error.type).toBe(type);
    expect(r.body.error.message).toBe(err.message);
    expect(r.headers["x-should-retry"]).toBe(retry);
    expect(Object.keys(r.body.error).sort()).toEqual(["code", "message", "param", "type"]);
  });

  it("names the parameter and code", () => {
    const r = toErrorResponse(new InvalidRequestError("bad", { param: "messages[0].content", code: "invalid_parameter" }));
    expect(r.body.error.param).toBe("messages[0].content");
    expect(r.body.error.code).toBe("invalid_parameter");
    expect(toErrorResponse(new ContextLengthExceededError(100, 64)).body.error.code).toBe("context_length_exceeded");
  });

  it("sets retry-after(-ms) on 429 and retry-after on 503", () => {
    const r429 = toErrorResponse(new CapacityError("full", 2500));
    expect(r429.headers["retry-after-ms"]).toBe("2500");
    expect(r429.headers["retry-after"]).toBe("3");
    expect(toErrorResponse(new UnavailableError("x")).headers["retry-after"]).toBe("1");
    expect(toErrorResponse(new AuthenticationError("x")).headers["www-authenticate"]).toBe("Bearer");
  });

  it("hides the message of unknown errors", async () => {
    const res = errorResponse(new Error("secret internal detail"));
    expect(res.status).toBe(500);
    const body = (await res.json()) as { error: { message: string; code: string } };
    expect(body.error.message).not.toContain("secret");
    expect(body.error.code).toBe("internal_error");
    expect(res.headers.get("content-type")).toBe("application/json");
  });
});
