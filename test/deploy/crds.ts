/**
 * Validators for the chart's custom resources (GIE InferencePool, Gateway API HTTPRoute) and the
 * endpoint picker's config file: ajv over the CRD schema subsets in crds/ (see crds/README.md for
 * their upstream source), plus the CRDs' CEL rules, which JSON Schema cannot say.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv, type ValidateFunction } from "ajv";
import { parse as parseYaml } from "yaml";

const ajv = new Ajv({ allErrors: true, strict: false });
ajv.addFormat("int32", { type: "number", validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 });
const load = (file: string): ValidateFunction => ajv.compile(JSON.parse(readFileSync(join(import.meta.dirname, "crds", file), "utf8")));
const inferencePool = load("inferencepool-v1.schema.json");
const httpRoute = load("httproute-v1.schema.json");

function check(v: ValidateFunction, o: unknown, what: string): void {
  if (!v(o)) throw new Error(`${what}: ${ajv.errorsText(v.errors)}`);
}

interface PortRef {
  number: number;
}

/** InferencePool v1: the schema, then the CRD's CEL rules (port required for a Service EPP; unique target ports). */
export function validateInferencePool(o: unknown): void {
  check(inferencePool, o, "InferencePool");
  const spec = (o as { spec: { endpointPickerRef: { kind?: string; port?: PortRef }; targetPorts: PortRef[] } }).spec;
  const epp = spec.endpointPickerRef;
  if ((epp.kind ?? "Service") === "Service" && !epp.port) throw new Error("InferencePool: port is required when kind is 'Service'");
  const numbers = spec.targetPorts.map((p) => p.number);
  if (new Set(numbers).size !== numbers.length) throw new Error("InferencePool: port number must be unique");
}

/** HTTPRoute (standard channel), the fields the chart renders. */
export function validateHttpRoute(o: unknown): void {
  check(httpRoute, o, "HTTPRoute");
}

/** What GIE v1.x's EPP reads from its --config-file (herd's own schema: upstream publishes none). */
const eppConfig = ajv.compile({
  type: "object",
  additionalProperties: false,
  required: ["apiVersion", "kind", "plugins", "schedulingProfiles"],
  properties: {
    apiVersion: { const: "inference.networking.x-k8s.io/v1alpha1" },
    kind: { const: "EndpointPickerConfig" },
    plugins: {
      type: "array",
      minItems: 1,
      items: {
        type: "object",
        additionalProperties: false,
        required: ["type"],
        properties: { type: { type: "string", minLength: 1 }, name: { type: "string" }, parameters: { type: "object" } },
      },
    },
    schedulingProfiles: {
      type: "array",
      minItems: 1,
      items: {
        type: "object",
        additionalProperties: false,
        required: ["name", "plugins"],
        properties: {
          name: { type: "string", minLength: 1 },
          plugins: {
            type: "array",
            items: {
              type: "object",
              additionalProperties: false,
              required: ["pluginRef"],
              properties: { pluginRef: { type: "string" }, weight: { type: "integer", minimum: 0 } },
            },
          },
        },
      },
    },
  },
});

export interface EppConfig {
  plugins: { type: string; name?: string }[];
  schedulingProfiles: { name: string; plugins: { pluginRef: string; weight?: number }[] }[];
}

/** Parses and checks an EndpointPickerConfig: the schema, and every pluginRef names a declared plugin. */
export function validateEppConfig(yaml: string): EppConfig {
  const c = parseYaml(yaml) as EppConfig;
  check(eppConfig, c, "EndpointPickerConfig");
  const declared = new Set(c.plugins.map((p) => p.name ?? p.type));
  for (const profile of c.schedulingProfiles)
    for (const p of profile.plugins)
      if (!declared.has(p.pluginRef)) throw new Error(`EndpointPickerConfig: profile ${profile.name} refers to undeclared ${p.pluginRef}`);
  return c;
}
