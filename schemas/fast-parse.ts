// A faster parse for the hot path, compiled from the zod schemas themselves
// (they stay the single source of truth): the schema's definition is walked
// once into plain closures that check the same things — types, lengths,
// patterns, number bounds, literals, enums, defaults, catch-alls, and the
// schema's own refine functions, called as they are — and build the same
// output (unknown keys stripped, defaults filled in). Anything the compiler
// does not know makes it decline, and the caller keeps zod for that schema.
//
// It answers only "valid, and here is the parsed value" or "not valid": for
// the reasons and issue paths, a caller asks zod about the rare failure.
import type * as z from "zod";

export type FastParse<T> = (input: unknown) => { ok: true; value: T } | { ok: false };

type Check = (value: never) => boolean;
/** Returns the parsed value, or FAIL. */
type Node = (input: unknown) => unknown;

const FAIL: unique symbol = Symbol("fail");

class Unsupported extends Error {}

interface Def {
  type: string;
  checks?: { _zod: { def: Record<string, unknown> } }[];
  [k: string]: unknown;
}

const defOf = (schema: unknown): Def => (schema as { _zod: { def: Def } })._zod.def;

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** The checks attached with .min(), .max(), .regex(), .int(), .refine(), … as predicates. */
function compileChecks(def: Def): Check[] {
  const out: Check[] = [];
  for (const c of def.checks ?? []) {
    const d = c._zod.def;
    switch (d.check) {
      case "min_length": {
        const min = d.minimum as number;
        out.push((v: { length: number }) => v.length >= min);
        break;
      }
      case "max_length": {
        const max = d.maximum as number;
        out.push((v: { length: number }) => v.length <= max);
        break;
      }
      case "string_format": {
        if (d.format !== "regex") throw new Unsupported(`string format ${String(d.format)}`);
        const pattern = d.pattern as RegExp;
        out.push((v: string) => {
          pattern.lastIndex = 0;
          return pattern.test(v);
        });
        break;
      }
      case "number_format": {
        if (d.format !== "safeint") throw new Unsupported(`number format ${String(d.format)}`);
        out.push((v: number) => Number.isSafeInteger(v));
        break;
      }
      case "greater_than": {
        const bound = d.value as number;
        out.push(d.inclusive ? (v: number) => v >= bound : (v: number) => v > bound);
        break;
      }
      case "less_than": {
        const bound = d.value as number;
        out.push(d.inclusive ? (v: number) => v <= bound : (v: number) => v < bound);
        break;
      }
      case "custom": {
        // A .refine(): the schema's own function, synchronous in every wire schema.
        const fn = d.fn as (v: unknown) => unknown;
        out.push((v: unknown) => {
          const r = fn(v);
          if (r instanceof Promise) throw new Unsupported("an asynchronous refinement");
          return Boolean(r);
        });
        break;
      }
      default:
        throw new Unsupported(`check ${String(d.check)}`);
    }
  }
  return out;
}

function withChecks(node: Node, checks: Check[]): Node {
  if (checks.length === 0) return node;
  return (input) => {
    const v = node(input);
    if (v === FAIL) return FAIL;
    for (const c of checks) if (!c(v as never)) return FAIL;
    return v;
  };
}

/** Keys an object schema's output may leave out when the input does (optional members). */
const optionalOut = (def: Def) => def.type === "optional";

function compile(schema: unknown): Node {
  const def = defOf(schema);
  const checks = compileChecks(def);
  switch (def.type) {
    case "string": {
      // z.iso.datetime() and its kin carry their pattern on the schema itself.
      const pattern = def.pattern as RegExp | undefined;
      if (def.format !== undefined && !pattern) throw new Unsupported(`string format ${String(def.format)}`);
      if (def.coerce) throw new Unsupported("coercion");
      const base: Node = pattern
        ? (v) => {
            if (typeof v !== "string") return FAIL;
            pattern.lastIndex = 0;
            return pattern.test(v) ? v : FAIL;
          }
        : (v) => (typeof v === "string" ? v : FAIL);
      return withChecks(base, checks);
    }
    case "number": {
      if (def.coerce) throw new Unsupported("coercion");
      // zod refuses NaN and ±Infinity for every number.
      return withChecks((v) => (typeof v === "number" && Number.isFinite(v) ? v : FAIL), checks);
    }
    case "boolean":
      if (def.coerce) throw new Unsupported("coercion");
      return withChecks((v) => (typeof v === "boolean" ? v : FAIL), checks);
    case "unknown":
      return withChecks((v) => v, checks);
    case "literal": {
      const values = def.values as unknown[];
      return withChecks((v) => (values.includes(v) ? v : FAIL), checks);
    }
    case "enum": {
      const values = new Set(Object.values(def.entries as Record<string, unknown>));
      return withChecks((v) => (values.has(v) ? v : FAIL), checks);
    }
    case "optional": {
      const inner = compile(def.innerType);
      return withChecks((v) => (v === undefined ? undefined : inner(v)), checks);
    }
    case "nullable": {
      const inner = compile(def.innerType);
      return withChecks((v) => (v === null ? null : inner(v)), checks);
    }
    case "default": {
      const inner = compile(def.innerType);
      // zod hands out the default as it is for a primitive; an object default would need a copy each time.
      const probe = def.defaultValue;
      if (typeof probe === "object" && probe !== null) {
        return withChecks((v) => inner(v === undefined ? structuredClone(def.defaultValue) : v), checks);
      }
      return withChecks((v) => inner(v === undefined ? def.defaultValue : v), checks);
    }
    case "record": {
      const key = compile(def.keyType);
      const value = compile(def.valueType);
      const base: Node = (input) => {
        if (!isPlainObject(input)) return FAIL;
        const out: Record<string, unknown> = {};
        for (const k of Object.keys(input)) {
          // A "__proto__" key: zod decides what it means.
          if (k === "__proto__" || key(k) === FAIL) return FAIL;
          const v = value(input[k]);
          if (v === FAIL) return FAIL;
          out[k] = v;
        }
        return out;
      };
      return withChecks(base, checks);
    }
    case "array": {
      const element = compile(def.element);
      const base: Node = (input) => {
        if (!Array.isArray(input)) return FAIL;
        const out = new Array<unknown>(input.length);
        for (let i = 0; i < input.length; i++) {
          const v = element(input[i]);
          if (v === FAIL) return FAIL;
          out[i] = v;
        }
        return out;
      };
      return withChecks(base, checks);
    }
    case "object": {
      const shape = def.shape as Record<string, unknown>;
      const members = Object.entries(shape).map(([k, s]) => ({ key: k, node: compile(s), optional: optionalOut(defOf(s)) }));
      const known = new Set(Object.keys(shape));
      const catchall = def.catchall && defOf(def.catchall).type !== "never" ? compile(def.catchall) : undefined;
      if (def.catchall && defOf(def.catchall).type === "never") throw new Unsupported("strict objects");
      const base: Node = (input) => {
        if (!isPlainObject(input)) return FAIL;
        const out: Record<string, unknown> = {};
        for (const m of members) {
          const raw = input[m.key];
          // An optional member the input leaves out stays out (zod keeps an explicit undefined).
          if (raw === undefined && m.optional) {
            if (m.key in input) out[m.key] = undefined;
            continue;
          }
          const v = m.node(raw);
          if (v === FAIL) return FAIL;
          out[m.key] = v;
        }
        if (catchall)
          for (const k of Object.keys(input)) {
            if (known.has(k)) continue;
            if (k === "__proto__") return FAIL;
            const v = catchall(input[k]);
            if (v === FAIL) return FAIL;
            out[k] = v;
          }
        return out;
      };
      return withChecks(base, checks);
    }
    case "union": {
      if (typeof def.discriminator !== "string") throw new Unsupported("a union without a discriminator");
      const field = def.discriminator;
      const byValue = new Map<unknown, Node>();
      for (const option of def.options as unknown[]) {
        const literal = defOf((defOf(option).shape as Record<string, unknown>)[field]);
        if (literal.type !== "literal") throw new Unsupported("a discriminator that is not a literal");
        const node = compile(option);
        for (const v of literal.values as unknown[]) byValue.set(v, node);
      }
      return withChecks((input) => {
        if (!isPlainObject(input)) return FAIL;
        const node = byValue.get(input[field]);
        return node ? node(input) : FAIL;
      }, checks);
    }
    default:
      throw new Unsupported(`schema type ${def.type}`);
  }
}

/** A fast parse for `schema`, or undefined when it uses something the compiler does not know (keep zod then). */
export function compileFastParse<S extends z.ZodType>(schema: S): FastParse<z.output<S>> | undefined {
  let node: Node;
  try {
    node = compile(schema);
  } catch (err) {
    if (err instanceof Unsupported) return undefined;
    throw err;
  }
  return (input) => {
    try {
      const value = node(input);
      return value === FAIL ? { ok: false } : { ok: true, value: value as z.output<S> };
    } catch {
      // A refinement that throws is zod's to report.
      return { ok: false };
    }
  };
}
