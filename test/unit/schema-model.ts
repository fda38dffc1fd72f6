// A model of a zod schema written independently of it: for every field, what is good and what is
// bad. The model gives a generator of whole good values and, for every field, generators of whole
// values that are good except for that one field. A schema that accepts one of those guards
// nothing at that field; a schema that refuses a good value is stricter than the contract.
import fc from 'fast-check'
import { expect } from 'vitest'

export type Path = Array<string | number>

/** A whole value that is bad at `path` only, and why. */
export interface Bad {
  label: string
  path: Path
  value: fc.Arbitrary<unknown>
  /** The one value, when it is a constant of the node itself. */
  constant?: { value: unknown }
}

export interface Model {
  good: fc.Arbitrary<unknown>
  bad: Bad[]
  /** Absent (undefined) is good. */
  optional?: boolean
}

/** Bad values of the node itself: one Bad each, so every one of them is tried, not a sample. */
const here = (label: string, ...values: unknown[]): Bad[] => values.map((value) => ({ label: `${label} (${describe(value)})`, path: [], value: fc.constant(value), constant: { value } }))
const describe = (value: unknown) => (typeof value === 'string' ? JSON.stringify(value.length > 24 ? `${value.slice(0, 12)}…(${value.length})` : value) : typeof value === 'number' ? String(value) : JSON.stringify(value))

/** A string of at most `max` characters (any string when no max). */
export function text(max?: number): Model {
  const short = fc.string({ maxLength: 24, unit: 'grapheme' })
  return {
    good: max === undefined ? short : fc.oneof(short, fc.constant('x'.repeat(max))),
    bad: [...here('not a string', 1, null, true, ['x'], { x: 'y' }), ...(max === undefined ? [] : here(`longer than ${max}`, 'x'.repeat(max + 1)))],
  }
}

/** A string that `good` generates and none of `bad` is. */
export function matching(good: fc.Arbitrary<string>, bad: string[]): Model {
  return { good, bad: [...here('not a string', 1, null, ['x']), ...here('the string', ...bad)] }
}

/** A safe integer in [min, max]. */
export function int(min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): Model {
  return {
    good: fc.oneof(fc.integer({ min, max }), fc.constantFrom(min, max)),
    bad: [
      ...here('not a number', '1', null, true, [1]),
      ...here('not an integer', Math.max(min, 0) + 0.5, Number.NaN, Number.POSITIVE_INFINITY),
      ...(min > Number.MIN_SAFE_INTEGER ? here(`below ${min}`, min - 1) : here('not a safe integer', Number.MIN_SAFE_INTEGER - 2)),
      ...(max < Number.MAX_SAFE_INTEGER ? here(`above ${max}`, max + 1) : here('not a safe integer', Number.MAX_SAFE_INTEGER + 2)),
    ],
  }
}

export const bool = (): Model => ({ good: fc.boolean(), bad: here('not a boolean', 'true', 0, 1, null) })

export function literal(value: string | number): Model {
  return { good: fc.constant(value), bad: here(`not ${JSON.stringify(value)}`, `${value}x`, typeof value === 'number' ? String(value) : 1, null) }
}

/** One of these numbers. */
export function numberIn(values: readonly number[]): Model {
  return { good: fc.constantFrom(...values), bad: here(`not one of ${values.join(', ')}`, Math.min(...values) - 1, Math.max(...values) + 1, String(values[0]), values[0]! + 0.5, null) }
}

export function oneOf(values: readonly string[]): Model {
  return { good: fc.constantFrom(...values), bad: here(`not one of ${values.join(', ')}`, 'other', values[0]!.toUpperCase() + 'x', 1, null) }
}

export function optional(model: Model): Model {
  return { good: fc.option(model.good, { nil: undefined }), bad: model.bad.filter((bad) => !bad.constant || bad.constant.value !== undefined), optional: true }
}

export function nullable(model: Model): Model {
  return { good: fc.option(model.good, { nil: null }), bad: model.bad.filter((bad) => !bad.constant || bad.constant.value !== null), optional: model.optional }
}

/** An array of at most `max` items. */
export function array(item: Model, max?: number): Model {
  const few = fc.array(item.good, { maxLength: 3 })
  return {
    good: max === undefined ? few : fc.oneof({ arbitrary: few, weight: 29 }, { arbitrary: fc.array(item.good, { minLength: max, maxLength: max }), weight: 1 }),
    bad: [
      ...here('not an array', 'x', null, { 0: 'x' }),
      ...(max === undefined ? [] : [{ label: `more than ${max} items`, path: [], value: fc.array(item.good, { minLength: max + 1, maxLength: max + 1 }) }]),
      ...item.bad.map((bad) => ({ label: `an item: ${bad.label}`, path: [0, ...bad.path], value: fc.tuple(bad.value, few).map(([first, rest]) => [first, ...rest]) })),
    ],
  }
}

/** An object with string keys of at most `keyMax` characters and values of `value`. */
export function record(keyMax: number, value: Model): Model {
  const key = fc.string({ maxLength: 12 }).filter((name) => !['__proto__', 'constructor', 'prototype'].includes(name))
  return {
    good: fc.dictionary(fc.oneof(key, fc.constant('k'.repeat(keyMax))), value.good, { maxKeys: 3 }),
    bad: [
      ...here('not an object', 'x', null, ['x']),
      { label: `a key longer than ${keyMax}`, path: [], value: value.good.map((good) => ({ ['k'.repeat(keyMax + 1)]: good })) },
      ...value.bad.map((bad) => ({ label: `a value: ${bad.label}`, path: ['key', ...bad.path], value: bad.value.map((bad) => ({ key: bad })) })),
    ],
  }
}

/** An object with these fields; with `loose`, fields it does not know are kept. */
export function object(fields: Record<string, Model>, options: { loose?: boolean } = {}): Model {
  const shape = fc.record(Object.fromEntries(Object.entries(fields).map(([name, model]) => [name, model.good])), {
    requiredKeys: Object.entries(fields).filter(([, model]) => !model.optional).map(([name]) => name),
  }) as fc.Arbitrary<Record<string, unknown>>
  // As JSON gives them: fc.jsonValue may hold -0, which JSON writes as 0 (a file never holds -0).
  const extra = fc.dictionary(fc.constantFrom('egress', 'future_field', 'x-tool'), fc.jsonValue({ maxDepth: 2 }).map((value) => JSON.parse(JSON.stringify(value)) as unknown), { maxKeys: 2 })
  const good = options.loose ? fc.tuple(shape, extra).map(([known, more]) => ({ ...more, ...known })) : shape
  const missing: Bad[] = Object.entries(fields)
    .filter(([, model]) => !model.optional)
    .map(([name]) => ({ label: `${name} missing`, path: [name], value: good.map(({ [name]: _gone, ...rest }) => rest) }))
  const badFields = Object.entries(fields).flatMap(([name, model]) =>
    model.bad.map((bad) => ({ label: `${name}: ${bad.label}`, path: [name, ...bad.path], value: fc.tuple(good, bad.value).map(([whole, value]) => ({ ...whole, [name]: value })) })),
  )
  return { good, bad: [...here('not an object', 'x', null, 1, ['x']), ...missing, ...badFields] }
}

/** One of several objects, told apart by the literal field `key`. */
export function discriminated(key: string, options: Model[]): Model {
  // A bad or missing `key` makes the value none of the options: the issue is about the whole value.
  const unknownKey = { label: `an unknown ${key}`, path: [], value: options[0]!.good.map((value) => ({ ...(value as object), [key]: 'unknown' })) }
  return { good: fc.oneof(...options.map((option) => option.good)), bad: [...here('not an object', 'x', null), unknownKey, ...options.flatMap((option) => option.bad.filter((bad) => bad.path[0] !== key))] }
}

/** The same values, checked only at their top level: for a schema another model covers in depth. */
export function shallow(model: Model): Model {
  return { ...model, bad: model.bad.filter((bad) => bad.path.length <= 1) }
}

/** Whether an issue at `actual` is about the field at `expected` (or inside it). */
export function isAt(actual: ReadonlyArray<PropertyKey>, expected: Path): boolean {
  return expected.every((segment, i) => String(actual[i]) === String(segment))
}

export interface Schema {
  safeParse: (input: unknown) => { success: true; data: unknown } | { success: false; error: { issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }> } }
}

/** Every good value is accepted and comes back the same through JSON. */
export function roundTrips(schema: Schema, model: Model, numRuns: number): void {
  fc.assert(
    fc.property(model.good, (value) => {
      const parsed = schema.safeParse(JSON.parse(JSON.stringify(value)))
      if (!parsed.success) throw new Error(`refused a good value: ${JSON.stringify(parsed.error.issues[0])}`)
      expect(parsed.data).toEqual(value)
    }),
    { numRuns },
  )
}

/** Every value bad at `bad.path` is refused, with an issue at that field (not at some other one). */
export function refusesBad(schema: Schema, bad: Bad, numRuns: number): void {
  fc.assert(
    fc.property(bad.value, (value) => {
      const parsed = schema.safeParse(value)
      if (parsed.success) throw new Error(`accepted a value with ${bad.label} at ${bad.path.join('.') || '(root)'}`)
      expect(parsed.error.issues.some((issue) => isAt(issue.path, bad.path)), JSON.stringify(parsed.error.issues.slice(0, 3))).toBe(true)
    }),
    { numRuns },
  )
}
