// @ts-check
// A small clap-4-like command-line parser for the smolvm emulator.
//
// Real smolvm parses its command line with clap 4. Parse errors therefore look like clap's and exit
// with status 2 (NOT 1):
//
//   error: unexpected argument '-n' found
//
//   Usage: smolvm machine exec [OPTIONS] <COMMAND>...
//
//   For more information, try '--help'.
//
// Errors found after parsing (unknown machine, already exists, not running, ...) are smolvm's own
// and are printed `Error: <message>` with status 1 (see fail() in the main script).
//
// A spec: {
//   path: 'machine exec', usage: '[OPTIONS] <COMMAND>...', about: '...',
//   options: [{ long, short, value: 'NAME' | undefined (a boolean flag), multiple, required, parse }],
//   positional: { kind: 'trailing' | 'last' | 'fixed', names: ['SRC', 'DST'], required, value: 'COMMAND' },
//   conflicts: [['from', 'image']],
//   notEmulated: ['storage', 'd', ...]   // real smolvm flags this emulator does not implement
// }

import { OptionValues } from './option-values.mjs'

/**
 * @typedef {object} OptionSpec
 * @property {string} [long]
 * @property {string} [short]
 * @property {string} [value] the value's name; absent for a boolean flag
 * @property {boolean} [multiple]
 * @property {boolean} [required]
 * @property {(value: string) => unknown} [parse]
 */

/**
 * @typedef {object} Spec
 * @property {string} path
 * @property {string} usage
 * @property {string} [about]
 * @property {OptionSpec[]} options
 * @property {{ kind: 'trailing' | 'last' | 'fixed', names?: string[], required?: boolean, value?: string }} [positional]
 * @property {Array<[string, string]>} [conflicts]
 * @property {string[]} [notEmulated]
 */

/** What `parse` found: option values by key (long name, else short). */
export class Options extends OptionValues {
  /** A parsed value of a `parse` option, as its parser made it. @param {string} key */
  raw(key) {
    return this.values.get(key)
  }
}

export class UsageError extends Error {
  /** @param {string} message @param {Spec} spec */
  constructor(message, spec) {
    super(message)
    this.spec = spec
  }
}

/** -h/--help was given: print helpText(spec) and exit 0. */
export class HelpRequested extends Error {
  /** @param {Spec} spec */
  constructor(spec) {
    super('help')
    this.spec = spec
  }
}

/** Real smolvm options the emulator deliberately does not implement (exit 1, says so). */
export class NotEmulatedError extends Error {}

/** @param {OptionSpec} opt */
function display(opt) {
  const name = opt.long ? `--${opt.long}` : `-${opt.short}`
  return opt.value ? `${name} <${opt.value}>` : name
}

/** @param {Spec} spec */
export function usageLine(spec) {
  return `Usage: smolvm ${spec.path}${spec.usage ? ` ${spec.usage}` : ''}`
}

/** @param {Spec} spec @param {string} message */
export function clapError(spec, message) {
  return `error: ${message}\n\n${usageLine(spec)}\n\nFor more information, try '--help'.\n`
}

/** @param {Spec} spec */
export function helpText(spec) {
  /** @type {string[]} */
  const lines = []
  if (spec.about) lines.push(spec.about, '')
  lines.push(usageLine(spec), '')
  if (spec.options.length > 0) {
    lines.push('Options:')
    for (const opt of spec.options) {
      const flags = [opt.short ? `-${opt.short}` : null, opt.long ? `--${opt.long}` : null].filter(Boolean).join(', ')
      lines.push(`  ${flags}${opt.value ? ` <${opt.value}>` : ''}`)
    }
    lines.push('  -h, --help')
  }
  lines.push('', '(bottle-tasks smolvm emulator: Docker underneath; see test/emulators/smolvm)')
  return lines.join('\n') + '\n'
}

/** The key an option's value is stored under: its long name, else its short one. @param {OptionSpec} opt */
const keyOf = (opt) => opt.long ?? opt.short ?? ''

/**
 * Parse `argv` against `spec`. Returns { opts, positionals, rest }. Throws UsageError (exit 2),
 * NotEmulatedError (exit 1) or HelpRequested.
 * @param {Spec} spec @param {string[]} argv
 * @returns {{ opts: Options, positionals: string[], rest: string[] }}
 */
export function parse(spec, argv) {
  /** @type {Map<string, OptionSpec>} */
  const byLong = new Map()
  /** @type {Map<string, OptionSpec>} */
  const byShort = new Map()
  for (const opt of spec.options) {
    if (opt.long) byLong.set(opt.long, opt)
    if (opt.short) byShort.set(opt.short, opt)
  }
  const notEmulated = new Set(spec.notEmulated ?? [])
  /** @type {Map<string, unknown>} */
  const opts = new Map()
  /** @type {Set<string>} */
  const seen = new Set()
  /** @type {string[]} */
  const positionals = []
  /** @type {string[] | null} */
  let rest = null
  const kind = spec.positional?.kind

  /** @param {OptionSpec} opt @param {string | true} value */
  const take = (opt, value) => {
    const key = keyOf(opt)
    if (seen.has(key) && !opt.multiple) {
      throw new UsageError(`the argument '${display(opt)}' cannot be used multiple times`, spec)
    }
    seen.add(key)
    if (!opt.value || value === true) {
      opts.set(key, true)
      return
    }
    /** @type {unknown} */
    let parsed = value
    if (opt.parse) {
      try {
        parsed = opt.parse(value)
      } catch (err) {
        throw new UsageError(`invalid value '${value}' for '${display(opt)}': ${err instanceof Error ? err.message : err}`, spec)
      }
    }
    if (opt.multiple) {
      const list = /** @type {unknown[]} */ (opts.get(key) ?? [])
      list.push(parsed)
      opts.set(key, list)
    } else opts.set(key, parsed)
  }

  /** @param {string | undefined} s */
  const looksLikeFlag = (s) => s !== undefined && s.startsWith('-') && s !== '-' && !/^-\d/.test(s)

  for (let i = 0; i < argv.length; i++) {
    const arg = /** @type {string} */ (argv[i])
    if (arg === '--') {
      if (kind === 'trailing' || kind === 'last') {
        rest = argv.slice(i + 1)
        break
      }
      for (const p of argv.slice(i + 1)) positionals.push(p)
      break
    }
    if (arg === '-h' || arg === '--help') throw new HelpRequested(spec)
    if (arg.startsWith('--') && arg.length > 2) {
      const eq = arg.indexOf('=')
      const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq)
      const inline = eq === -1 ? undefined : arg.slice(eq + 1)
      const opt = byLong.get(name)
      if (!opt) {
        if (notEmulated.has(name)) throw new NotEmulatedError(`'--${name}' is a real smolvm option that this emulator does not implement`)
        throw new UsageError(`unexpected argument '--${name}' found`, spec)
      }
      if (!opt.value) {
        if (inline !== undefined) throw new UsageError(`unexpected value '${inline}' for '${display(opt)}' found; no more were expected`, spec)
        take(opt, true)
        continue
      }
      let value = inline
      if (value === undefined) {
        value = argv[i + 1]
        if (value === undefined || looksLikeFlag(value)) throw new UsageError(`a value is required for '${display(opt)}' but none was supplied`, spec)
        i++
      }
      take(opt, value)
      continue
    }
    if (arg.startsWith('-') && arg !== '-' && arg.length > 1) {
      // a cluster of short flags: -it, -eK=V, -e K=V, -w/dir
      for (let j = 1; j < arg.length; j++) {
        const c = /** @type {string} */ (arg[j])
        const opt = byShort.get(c)
        if (!opt) {
          if (notEmulated.has(c)) throw new NotEmulatedError(`'-${c}' is a real smolvm option that this emulator does not implement`)
          throw new UsageError(`unexpected argument '-${c}' found`, spec)
        }
        if (!opt.value) {
          take(opt, true)
          continue
        }
        let value = arg.slice(j + 1)
        if (value.startsWith('=')) value = value.slice(1)
        if (value === '') {
          const next = argv[i + 1]
          if (next === undefined || looksLikeFlag(next)) throw new UsageError(`a value is required for '${display(opt)}' but none was supplied`, spec)
          value = next
          i++
        }
        take(opt, value)
        break
      }
      continue
    }
    // a positional
    if (kind === 'trailing') {
      rest = argv.slice(i)
      break
    }
    const fixed = spec.positional?.names ?? []
    if (kind === 'fixed' && positionals.length < fixed.length) {
      positionals.push(arg)
      continue
    }
    throw new UsageError(`unexpected argument '${arg}' found`, spec)
  }

  const fixed = spec.positional?.names ?? []
  if (kind === 'fixed' && positionals.length > fixed.length) {
    throw new UsageError(`unexpected argument '${positionals[fixed.length]}' found`, spec)
  }
  const missing = []
  for (const opt of spec.options) if (opt.required && !seen.has(keyOf(opt))) missing.push(display(opt))
  if (kind === 'fixed') for (const name of fixed.slice(positionals.length)) missing.push(`<${name}>`)
  if ((kind === 'trailing' || kind === 'last') && spec.positional?.required && (rest === null || rest.length === 0)) {
    missing.push(`<${spec.positional.value}>...`)
  }
  if (missing.length > 0) {
    throw new UsageError(`the following required arguments were not provided:\n  ${missing.join('\n  ')}`, spec)
  }
  for (const [a, b] of spec.conflicts ?? []) {
    if (seen.has(a) && seen.has(b)) {
      const oa = byLong.get(a) ?? byShort.get(a)
      const ob = byLong.get(b) ?? byShort.get(b)
      if (oa && ob) throw new UsageError(`the argument '${display(oa)}' cannot be used with '${display(ob)}'`, spec)
    }
  }
  return { opts: new Options(opts), positionals, rest: rest ?? [] }
}

// --- value parsers (clap value_parser equivalents) ------------------------------------------------

/** @param {string} value */
export function parseU8(value) {
  if (!/^\d+$/.test(value)) throw new Error('invalid digit found in string')
  const n = Number(value)
  if (n > 255) throw new Error('number too large to fit in target type')
  return n
}

/** @param {string} value */
export function parseU32(value) {
  if (!/^\d+$/.test(value)) throw new Error('invalid digit found in string')
  const n = Number(value)
  if (n > 4294967295) throw new Error('number too large to fit in target type')
  return n
}

/** "30s", "5m", "1h", "500ms", "2m30s", or bare seconds → milliseconds. */
/** @param {string} value */
export function parseDuration(value) {
  if (/^\d+$/.test(value)) return Number(value) * 1000
  const re = /(\d+)(ms|s|m|h|d)/gy
  let total = 0
  let matched = 0
  for (const m of value.matchAll(re)) {
    matched += m[0].length
    const n = Number(m[1])
    total += n * (/** @type {Record<string, number>} */ ({ ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 })[m[2] ?? ''] ?? 0)
  }
  if (matched !== value.length || value.length === 0) throw new Error(`invalid duration '${value}' (expected e.g. 30s, 5m, 1h)`)
  return total
}

/** @param {string} value @returns {{ host: number, guest: number }} */
export function parsePort(value) {
  const m = /^(\d{1,5}):(\d{1,5})$/.exec(value)
  if (!m || Number(m[1]) < 1 || Number(m[1]) > 65535 || Number(m[2]) < 1 || Number(m[2]) > 65535) {
    throw new Error(`invalid port mapping '${value}': expected HOST:GUEST`)
  }
  return { host: Number(m[1]), guest: Number(m[2]) }
}
