/**
 * A small declarative schema for configuration: each field states its type,
 * default, bounds and documentation once. From it come the TypeScript type of
 * the validated configuration, the validator (which names the offending key
 * and value) and the configuration reference in docs/.
 *
 * @module
 */

/** An integer within [min, max]. */
export interface IntSpec {
  readonly kind: "int";
  readonly default: number;
  readonly min: number;
  readonly max: number;
  readonly doc: string;
}
/** A boolean. */
export interface BoolSpec {
  readonly kind: "bool";
  readonly default: boolean;
  readonly doc: string;
}
/** A boolean that may be left unset (null = decided from context, documented). */
export interface OptBoolSpec {
  readonly kind: "optBool";
  readonly doc: string;
}
/** A string with a default (`required` strings have no default). */
export interface StringSpec {
  readonly kind: "string";
  readonly default: string | undefined;
  readonly doc: string;
  /** Reject the empty string. */
  readonly nonEmpty?: boolean;
}
/** A string that may be absent (null). */
export interface OptStringSpec {
  readonly kind: "optString";
  readonly doc: string;
}
/** One of a fixed set of strings. */
export interface EnumSpec<T extends string = string> {
  readonly kind: "enum";
  readonly values: readonly T[];
  readonly default: T;
  readonly doc: string;
}
/** A list of `host:port` endpoints, given as a YAML list or a comma-separated string. */
export interface EndpointsSpec {
  readonly kind: "endpoints";
  readonly doc: string;
}
/**
 * A mapping of names to non-negative integers whose names and bounds the
 * consuming module checks (e.g. the membership tunables of cluster/config.ts).
 */
export interface IntMapSpec {
  readonly kind: "intMap";
  readonly doc: string;
}
/** A section with fixed keys; unknown keys are rejected. */
export interface ObjectSpec<F extends Fields = Fields> {
  readonly kind: "object";
  readonly fields: F;
  readonly doc: string;
}
/** A section that may be absent as a whole (null), e.g. `clusterConfig`. */
export interface OptObjectSpec<F extends Fields = Fields> {
  readonly kind: "optObject";
  readonly fields: F;
  readonly doc: string;
}
/** A bounded list. */
export interface ListSpec<I extends Spec = Spec> {
  readonly kind: "list";
  readonly item: I;
  readonly maxItems: number;
  readonly doc: string;
  /** Each item must be one of these strings (string lists only). */
  readonly allowed?: readonly string[];
}

/** Any field spec. */
export type Spec =
  | IntSpec
  | BoolSpec
  | OptBoolSpec
  | StringSpec
  | OptStringSpec
  | EnumSpec
  | EndpointsSpec
  | IntMapSpec
  | ObjectSpec
  | OptObjectSpec
  | ListSpec;

/** The fields of a section. */
export type Fields = { readonly [key: string]: Spec };

/** The validated value a spec describes. */
export type ValueOf<S> = S extends IntSpec ? number
  : S extends BoolSpec ? boolean
  : S extends OptBoolSpec ? boolean | null
  : S extends StringSpec ? string
  : S extends OptStringSpec ? string | null
  : S extends EnumSpec<infer T> ? T
  : S extends EndpointsSpec ? string[]
  : S extends IntMapSpec ? Record<string, number>
  : S extends ObjectSpec<infer F> ? { [K in keyof F]: ValueOf<F[K]> }
  : S extends OptObjectSpec<infer F> ? { [K in keyof F]: ValueOf<F[K]> } | null
  : S extends ListSpec<infer I> ? ValueOf<I>[]
  : never;

/** A configuration value was missing, of the wrong type or out of range. */
export class ConfigError extends Error {
  constructor(readonly key: string, message: string) {
    super(`${key}: ${message}`);
    this.name = "ConfigError";
  }
}

function show(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

const ENDPOINT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

function parseEndpoints(key: string, raw: unknown): string[] {
  const items = typeof raw === "string"
    ? raw.split(",").map((s) => s.trim()).filter((s) => s.length > 0)
    : Array.isArray(raw)
    ? raw
    : null;
  if (items === null) {
    throw new ConfigError(key, `expected "host:port,host:port" or a list, got ${show(raw)}`);
  }
  return items.map((item, i) => {
    const m = typeof item === "string" ? ENDPOINT.exec(item) : null;
    if (m === null || Number(m[2]) < 1 || Number(m[2]) > 65535) {
      throw new ConfigError(`${key}[${i}]`, `expected host:port, got ${show(item)}`);
    }
    return item as string;
  });
}

/** Validates `raw` (parsed YAML, possibly undefined) against `spec`; `key` names it in errors. */
export function validate<S extends Spec>(spec: S, raw: unknown, key: string): ValueOf<S> {
  return validateAny(spec, raw, key) as ValueOf<S>;
}

function validateAny(spec: Spec, raw: unknown, key: string): unknown {
  switch (spec.kind) {
    case "int": {
      if (raw === undefined || raw === null) return spec.default;
      if (typeof raw !== "number" || !Number.isInteger(raw)) {
        throw new ConfigError(key, `expected an integer, got ${show(raw)}`);
      }
      if (raw < spec.min || raw > spec.max) {
        throw new ConfigError(key, `${raw} is out of range [${spec.min}, ${spec.max}]`);
      }
      return raw;
    }
    case "bool":
    case "optBool": {
      if (raw === undefined || raw === null) return spec.kind === "bool" ? spec.default : null;
      if (typeof raw !== "boolean") {
        throw new ConfigError(key, `expected true or false, got ${show(raw)}`);
      }
      return raw;
    }
    case "string":
    case "optString": {
      if (raw === undefined || raw === null) {
        if (spec.kind === "optString") return null;
        if (spec.default === undefined) throw new ConfigError(key, "is required");
        return spec.default;
      }
      if (typeof raw !== "string") {
        throw new ConfigError(key, `expected a string, got ${show(raw)}`);
      }
      if (spec.kind === "string" && spec.nonEmpty && raw.length === 0) {
        throw new ConfigError(key, "must not be empty");
      }
      return raw;
    }
    case "enum": {
      if (raw === undefined || raw === null) return spec.default;
      if (typeof raw !== "string" || !spec.values.includes(raw)) {
        throw new ConfigError(key, `expected one of ${spec.values.join(", ")}, got ${show(raw)}`);
      }
      return raw;
    }
    case "endpoints":
      if (raw === undefined || raw === null) return [];
      return parseEndpoints(key, raw);
    case "intMap": {
      if (raw === undefined || raw === null) return {};
      if (!isRecord(raw)) throw new ConfigError(key, `expected a mapping, got ${show(raw)}`);
      const out: Record<string, number> = {};
      for (const [k, v] of Object.entries(raw)) {
        if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
          throw new ConfigError(`${key}.${k}`, `expected a non-negative integer, got ${show(v)}`);
        }
        out[k] = v;
      }
      return out;
    }
    case "object":
    case "optObject": {
      if (raw === undefined || raw === null) {
        if (spec.kind === "optObject") return null;
        raw = {};
      }
      if (!isRecord(raw)) {
        throw new ConfigError(key === "" ? "config" : key, `expected a mapping, got ${show(raw)}`);
      }
      const known = Object.keys(spec.fields);
      const sub = (k: string) => key === "" ? k : `${key}.${k}`;
      for (const k of Object.keys(raw)) {
        if (!known.includes(k)) {
          throw new ConfigError(sub(k), `unknown key (known keys: ${known.join(", ")})`);
        }
      }
      const out: Record<string, unknown> = {};
      for (const [k, fieldSpec] of Object.entries(spec.fields)) {
        out[k] = validateAny(fieldSpec, raw[k], sub(k));
      }
      return out;
    }
    case "list": {
      if (raw === undefined || raw === null) return [];
      if (!Array.isArray(raw)) throw new ConfigError(key, `expected a list, got ${show(raw)}`);
      if (raw.length > spec.maxItems) {
        throw new ConfigError(key, `has ${raw.length} items, at most ${spec.maxItems} allowed`);
      }
      return raw.map((item, i) => {
        const v = validateAny(spec.item, item, `${key}[${i}]`);
        if (spec.allowed && !spec.allowed.includes(v as string)) {
          throw new ConfigError(
            `${key}[${i}]`,
            `unknown value ${show(v)} (allowed: ${spec.allowed.join(", ")})`,
          );
        }
        return v;
      });
    }
  }
}

/** Renders the reference table rows (key, type, default, doc) of a spec tree. */
export function referenceRows(
  spec: Spec,
  key: string,
): { key: string; type: string; default: string; doc: string }[] {
  switch (spec.kind) {
    case "object":
    case "optObject": {
      const rows = key === "" ? [] : [{
        key,
        type: spec.kind === "optObject" ? "section (optional)" : "section",
        default: "",
        doc: spec.doc,
      }];
      for (const [k, f] of Object.entries(spec.fields)) {
        rows.push(...referenceRows(f, key === "" ? k : `${key}.${k}`));
      }
      return rows;
    }
    case "int":
      return [{
        key,
        type: `integer ${spec.min}..${spec.max}`,
        default: String(spec.default),
        doc: spec.doc,
      }];
    case "bool":
      return [{ key, type: "boolean", default: String(spec.default), doc: spec.doc }];
    case "optBool":
      return [{ key, type: "boolean", default: "(unset)", doc: spec.doc }];
    case "string":
      return [{
        key,
        type: "string",
        default: spec.default === undefined ? "(required)" : show(spec.default),
        doc: spec.doc,
      }];
    case "optString":
      return [{ key, type: "string", default: "(unset)", doc: spec.doc }];
    case "enum":
      return [{ key, type: spec.values.join(" \\| "), default: spec.default, doc: spec.doc }];
    case "endpoints":
      return [{ key, type: "host:port list", default: "[]", doc: spec.doc }];
    case "intMap":
      return [{ key, type: "mapping name → integer", default: "{}", doc: spec.doc }];
    case "list": {
      const rows = [{
        key,
        type: `list (≤ ${spec.maxItems})${spec.allowed ? " of names" : ""}`,
        default: "[]",
        doc: spec.doc + (spec.allowed ? ` Allowed: ${spec.allowed.join(", ")}.` : ""),
      }];
      if (spec.item.kind === "object") rows.push(...referenceRows(spec.item, `${key}[]`).slice(1));
      return rows;
    }
  }
}
