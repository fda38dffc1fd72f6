// A task's flag table: one place that gives both the parser and the --help lines, with typed
// values (a parser per flag turns the raw string into what the task gets, or a usage error).
import { parseArgs } from 'node:util'
import { UsageError } from './errors.ts'

export interface Flag {
  type: 'string' | 'boolean'
  short?: string
  /** The placeholder in --help: `--output FILE`. */
  arg?: string
  help: string
  /** Repeatable: the task gets every value given. */
  multiple?: boolean
  /** The raw string → the value the task gets; throws UsageError on bad input. */
  parse?: (raw: string, flag: string) => unknown
  default?: unknown
}
/** A flag and the type of the value the task gets (for the compiler only). */
type Valued<T> = Flag & { readonly __value?: T }

export type Flags = Record<string, Flag>
export type FlagValues<F extends Flags> = { [K in keyof F]: F[K] extends { readonly __value?: infer T } ? T : never }

interface StringOptions<T> {
  short?: string
  parse?: (raw: string, flag: string) => T
}

/** Builders for the table: `flag.string('FILE', 'write here', { short: 'o' })`. */
export const flag = {
  boolean: (help: string, extra: { short?: string } = {}): Valued<boolean> => ({ type: 'boolean', help, ...extra }),
  string: <T = string>(arg: string, help: string, extra: StringOptions<T> = {}): Valued<T | undefined> => ({ type: 'string', arg, help, ...extra }),
  /** With a value when not given. */
  defaulted: <T>(arg: string, help: string, defaultValue: T, extra: StringOptions<T> = {}): Valued<T> => ({ type: 'string', arg, help, default: defaultValue, ...extra }),
  /** Repeatable: every value given, in order. */
  repeated: <T = string>(arg: string, help: string, extra: StringOptions<T> = {}): Valued<T[]> => ({ type: 'string', arg, help, multiple: true, ...extra }),
}

/** Parse `argv` against the table; unknown flags are usage errors (node's ERR_PARSE_ARGS_*). */
export function parseFlags<F extends Flags>(table: F, argv: string[]): { values: FlagValues<F>; positionals: string[]; given: Set<string> } {
  const { values: raw, positionals } = parseArgs({
    args: argv,
    options: Object.fromEntries(
      Object.entries(table).map(([name, spec]) => [name, { type: spec.type, ...(spec.short ? { short: spec.short } : {}), ...(spec.multiple ? { multiple: true } : {}) }]),
    ),
    allowPositionals: true,
    strict: true,
  })
  const values = Object.fromEntries(Object.entries(table).map(([name, spec]) => [name, valueOf(name, spec, raw[name])]))
  return { values: values as FlagValues<F>, positionals, given: new Set(Object.keys(raw)) }
}

function valueOf(name: string, spec: Flag, raw: string | boolean | Array<string | boolean> | undefined): unknown {
  if (spec.type === 'boolean') return Boolean(raw)
  const parse = (value: string) => (spec.parse ? spec.parse(value, `--${name}`) : value)
  if (spec.multiple) return ((raw ?? []) as string[]).map(parse)
  return raw === undefined ? spec.default : parse(raw as string)
}

/** The --help lines of a table, aligned the same way for every task. */
export function flagHelp(table: Flags): string[] {
  return Object.entries(table).map(([name, spec]) => {
    const names = `${spec.short ? `-${spec.short}, ` : '    '}--${name}${spec.arg ? ` ${spec.arg}` : ''}`
    return `  ${names.padEnd(26)} ${spec.help}`
  })
}

/** A whole number ≥ `min` (`--snapshot N`, `--keep N`). */
export const count =
  (min = 1) =>
  (value: string, name: string): number => {
    const n = Number(value)
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min) throw new UsageError(`${name} must be a whole number ≥ ${min}, got ${JSON.stringify(value)}`)
    return n
  }

/** A path or glob to keep out of snapshots (`--exclude`): one line of the exclude file, not all of `/`. */
export function pathPattern(value: string, name: string): string {
  if (!value.trim() || /[\n\r\0]/.test(value) || /^\/*$/.test(value.trim())) throw new UsageError(`${name} ${JSON.stringify(value)}: give a path or glob in the bottle, such as /root/.cache or '**/node_modules/.cache'`)
  return value.trim()
}

/** One of `choices` (`--backend`, `--compress`). */
export const oneOf =
  <const C extends readonly string[]>(choices: C) =>
  (value: string, name: string): C[number] => {
    if (!choices.includes(value)) throw new UsageError(`unknown ${name} "${value}": use ${choices.join(', ')}`)
    return value as C[number]
  }

const UNIT_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** A duration of whole seconds, minutes, hours or days, parts in that order (`30s`, `10m`, `1h30m`, `1d`), as milliseconds. */
export const duration =
  (min = 1_000) =>
  (value: string, name: string): number => {
    const parts = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(value)
    const ms = parts && value !== '' ? parts.slice(1).reduce((sum, part, i) => sum + Number(part ?? 0) * UNIT_MS['dhms'[i]!]!, 0) : NaN
    if (!Number.isSafeInteger(ms) || ms < min) throw new UsageError(`${name} must be a duration of at least ${min / 1000} s such as 30s, 10m, 1h30m or 1d, got ${JSON.stringify(value)}`)
    return ms
  }
