/**
 * Request and response variants of one zod schema. A request may leave out
 * every field with a default; a response (the stored spec) always has it.
 * zod-to-openapi writes a defaulted field as optional, so one component for
 * both made generated clients either demand defaults in requests or doubt
 * them in responses. Here each container (object, union, array, ...) is
 * rebuilt from its definition, sharing every leaf: the "input" variant parses
 * exactly as the original (same checks, same messages) and only renames the
 * components, the "output" variant drops the defaults so every field is
 * required. Named components get `<name>Input` and `<name>`.
 */
import { z } from "@hono/zod-openapi";

/** Which side of the wire a variant describes. */
export type SchemaIo = "input" | "output";

type Def = Record<string, unknown>;
type Zod = z.ZodType;

const memo: Record<SchemaIo, Map<Zod, Zod>> = {
  input: new Map(),
  output: new Map(),
};

/** The name a component gets in each variant. */
function componentName(base: string, io: SchemaIo): string {
  return io === "input" ? `${base}Input` : base;
}

/** A copy of `def` (getters included) with `changes` applied. */
function withDef(schema: Zod, changes: Def): Zod {
  const def = Object.defineProperties(
    {},
    Object.getOwnPropertyDescriptors(schema._zod.def),
  ) as Def;
  for (const [key, value] of Object.entries(changes)) {
    Object.defineProperty(def, key, {
      value,
      enumerable: true,
      configurable: true,
      writable: true,
    });
  }
  // parent: keeps the original's description (ids are not inherited).
  return schema.clone(def as unknown as typeof schema._zod.def, {
    parent: true,
  });
}

/**
 * An object shape whose fields are converted on first read: a recursive
 * schema (a residual block's layers) refers to a union that is still being
 * converted when its options are, and zod reads shapes lazily too.
 */
function lazyShape(
  shape: Record<string, Zod>,
  convert: (s: Zod) => Zod,
): Record<string, Zod> {
  const out: Record<string, Zod> = {};
  for (const key of Object.keys(shape)) {
    Object.defineProperty(out, key, {
      enumerable: true,
      configurable: true,
      get() {
        const value = convert(shape[key]);
        Object.defineProperty(out, key, {
          value,
          enumerable: true,
          configurable: true,
          writable: true,
        });
        return value;
      },
    });
  }
  return out;
}

/**
 * The `io` variant of `schema`; `names` gives the component name of every
 * schema instance (nested ones included) that should be one.
 */
export function schemaVariant<S extends Zod>(
  schema: S,
  io: SchemaIo,
  names: ReadonlyMap<Zod, string>,
): S {
  const convert = (s: Zod): Zod => {
    const known = memo[io].get(s);
    if (known) return known;
    const def = s._zod.def as Def & { type: string };
    let out: Zod;
    switch (def.type) {
      case "default":
      case "prefault":
        if (io === "output") {
          out = convert(def.innerType as Zod);
          // The default's description is the field's.
          const description = s.meta()?.description;
          if (description) out = out.describe(description);
        } else {
          out = withDef(s, { innerType: convert(def.innerType as Zod) });
        }
        break;
      case "optional":
      case "nullable":
      case "readonly":
      case "nonoptional":
        out = withDef(s, { innerType: convert(def.innerType as Zod) });
        break;
      case "object":
        out = withDef(s, {
          shape: lazyShape(def.shape as Record<string, Zod>, convert),
        });
        break;
      case "union":
        out = withDef(s, { options: (def.options as Zod[]).map(convert) });
        break;
      case "array":
        out = withDef(s, { element: convert(def.element as Zod) });
        break;
      case "tuple":
        out = withDef(s, {
          items: (def.items as Zod[]).map(convert),
          rest: def.rest ? convert(def.rest as Zod) : null,
        });
        break;
      case "record":
        out = withDef(s, { valueType: convert(def.valueType as Zod) });
        break;
      default:
        // A leaf: strings, numbers, enums, literals... shared as they are.
        return s;
    }
    const name = names.get(s);
    if (name) out = out.openapi(componentName(name, io));
    memo[io].set(s, out);
    return out;
  };
  return convert(schema) as S;
}
