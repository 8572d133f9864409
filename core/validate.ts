// The one way data from elsewhere (a file's metadata, a message between
// processes) is checked against its shape: small checks that compose, each
// answering with the path of the first field that is wrong, so the error
// can name it.

/** Undefined when `value` fits; else the path of the first field that does not (`path` itself for `value`). */
export type Check = (value: unknown, path: string) => string | undefined;

export const is =
  (predicate: (value: unknown) => boolean): Check =>
  (value, path) =>
    predicate(value) ? undefined : path;

export const optional =
  (check: Check): Check =>
  (value, path) =>
    value === undefined ? undefined : check(value, path);

export const arrayOf =
  (check: Check): Check =>
  (value, path) => {
    if (!Array.isArray(value)) return path;
    for (let i = 0; i < value.length; i++) {
      const bad = check(value[i], `${path}[${i}]`);
      if (bad !== undefined) return bad;
    }
    return undefined;
  };

/** An object with these fields (wrap a field's check in optional() when it may be absent); other fields are let through. */
export const object =
  (fields: Record<string, Check>): Check =>
  (value, path) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return path;
    const record = value as Record<string, unknown>;
    for (const [key, check] of Object.entries(fields)) {
      const bad = check(record[key], path ? `${path}.${key}` : key);
      if (bad !== undefined) return bad;
    }
    return undefined;
  };

export const oneOf = (values: readonly unknown[]): Check => is((v) => values.includes(v));

export const isString = is((v) => typeof v === 'string');
export const isBoolean = is((v) => typeof v === 'boolean');
export const isNumber = is((v) => typeof v === 'number' && Number.isFinite(v));
export const isInteger = is((v) => Number.isSafeInteger(v));
export const isCount = is((v) => Number.isSafeInteger(v) && (v as number) >= 0);
/** A u64 as a decimal string: how JSON carries what a double cannot. */
export const isDecimal = is((v) => typeof v === 'string' && /^[0-9]{1,20}$/.test(v) && BigInt(v) < 1n << 64n);
