// @ts-check
// A small strict argument parser in the manner of swift-argument-parser, which the real
// `container` CLI uses: unknown options are refused, an option's value is the next word unless
// that word is itself an option, short flags may be grouped (`-it`), `--name=value` works, and
// positionals are counted. Usage errors exit 64 (EX_USAGE), like the real tool.

import { OptionValues } from './option-values.mjs'

export const EXIT_USAGE = 64

/** @typedef {{ name: string, usage: string }} Command */

/**
 * @typedef {object} OptionSpec
 * @property {string} key
 * @property {string[]} names
 * @property {boolean} takesValue
 * @property {boolean} [repeat]
 * @property {string} [valueName]
 * @property {string[]} [choices]
 */

/** What `parse` found: flags as booleans, options as a string (or a list when repeatable), positionals. */
export class Parsed extends OptionValues {
  /**
   * @param {Map<string, string | string[] | boolean | undefined>} values
   * @param {string[]} args
   * @param {string[]} rest
   */
  constructor(values, args, rest) {
    super(values)
    this.args = args
    this.rest = rest
  }

  /** The `index`th positional (parse has checked it is there). @param {number} index */
  arg(index) {
    const value = this.args[index]
    if (value === undefined) throw new Error(`internal: positional ${index} missing`)
    return value
  }
}

/** An error the user caused; `code` is the exit status. */
export class CliError extends Error {
  /** @param {string} message @param {{ code?: number, usage?: Command }} [options] */
  constructor(message, { code = 1, usage } = {}) {
    super(message)
    this.code = code
    this.usage = usage
  }
}

/** @param {string} message @param {Command} command */
export const usageError = (message, command) => new CliError(message, { code: EXIT_USAGE, usage: command })

/** A boolean flag: `flag('detach', '-d', '--detach')`. @param {string} key @param {...string} names @returns {OptionSpec} */
export const flag = (key, ...names) => ({ key, names, takesValue: false })

/**
 * An option with a value; `repeat` collects every occurrence into an array.
 * @param {string} key @param {string[]} names
 * @param {{ repeat?: boolean, valueName?: string, choices?: string[] }} [options]
 * @returns {OptionSpec}
 */
export const option = (key, names, { repeat = false, valueName = key, choices } = {}) => ({ key, names, takesValue: true, repeat, valueName, choices })

/** Accepted on every subcommand of the real CLI (Flags.Global / Flags.Logging). */
const GLOBAL = [flag('debug', '--debug')]

/** @param {string} word */
const looksLikeOption = (word) => word.length > 1 && word.startsWith('-')

/**
 * @typedef {object} ParseSpec
 * @property {OptionSpec[]} [options]
 * @property {string[]} [positionals] names of the positional arguments in order (`['<image>']`)
 * @property {string} [rest] name of the trailing list (`'<arguments>'`)
 * @property {boolean} [restRequired]
 * @property {number} [passthroughAfter] how many positionals come before everything is taken as-is
 *   (the real `run`/`exec` capture the rest of the line for the process)
 * @property {string[]} [unsupported] real options this emulator does not implement, to say so instead of "unknown"
 */

/**
 * Parse `argv` for `command` (e.g. `{ name: 'container exec', usage: '…' }`).
 * @param {string[]} argv @param {Command} command @param {ParseSpec} spec
 * @returns {Parsed}
 */
export function parse(argv, command, { options = [], positionals = [], rest, restRequired = false, passthroughAfter, unsupported = [] }) {
  const specs = [...options, ...GLOBAL]
  /** @type {Map<string, OptionSpec>} */
  const byName = new Map()
  for (const spec of specs) for (const name of spec.names) byName.set(name, spec)
  /** @type {Map<string, string | string[] | boolean | undefined>} */
  const values = new Map()
  for (const spec of specs) values.set(spec.key, spec.takesValue ? (spec.repeat ? [] : undefined) : false)
  /** @type {string[]} */
  const found = []
  /** @type {string[] | null} */
  let passthrough = null

  /** @param {OptionSpec} spec @param {string} name @param {string} value */
  const setValue = (spec, name, value) => {
    if (spec.choices && !spec.choices.includes(value)) {
      throw usageError(`The value '${value}' is invalid for '${name} <${spec.valueName}>'`, command)
    }
    const current = values.get(spec.key)
    if (spec.repeat && Array.isArray(current)) current.push(value)
    else values.set(spec.key, value)
  }
  /** @param {string} name @returns {OptionSpec} */
  const specFor = (name) => {
    const spec = byName.get(name)
    if (spec) return spec
    if (unsupported.includes(name)) {
      throw usageError(`Option '${name}' of '${command.name}' is real but not supported by this emulator`, command)
    }
    throw usageError(`Unknown option '${name}'`, command)
  }
  /** @param {number} i @param {string} name @param {OptionSpec} spec */
  const valueAfter = (i, name, spec) => {
    const value = argv[i + 1]
    if (value === undefined || looksLikeOption(value)) throw usageError(`Missing value for '${name} <${spec.valueName}>'`, command)
    return value
  }

  for (let i = 0; i < argv.length; i++) {
    const word = /** @type {string} */ (argv[i])
    if (passthroughAfter !== undefined && found.length >= passthroughAfter) {
      passthrough = argv.slice(i)
      break
    }
    if (word === '--') {
      found.push(...argv.slice(i + 1))
      break
    }
    if (word === '-h' || word === '--help') throw new HelpRequest(command)
    if (!looksLikeOption(word)) {
      found.push(word)
      continue
    }
    if (word.startsWith('--')) {
      const eq = word.indexOf('=')
      const name = eq === -1 ? word : word.slice(0, eq)
      const spec = specFor(name)
      if (!spec.takesValue) {
        if (eq !== -1) throw usageError(`Unknown option '${word}'`, command)
        values.set(spec.key, true)
        continue
      }
      if (eq !== -1) {
        setValue(spec, name, word.slice(eq + 1))
        continue
      }
      setValue(spec, name, valueAfter(i, name, spec))
      i++
      continue
    }
    // One short option, or a group of short flags where only the last may take a value.
    const letters = word.slice(1).split('')
    for (const [j, letter] of letters.entries()) {
      const name = `-${letter}`
      const spec = specFor(name)
      if (!spec.takesValue) {
        values.set(spec.key, true)
        continue
      }
      if (j !== letters.length - 1) throw usageError(`Missing value for '${name} <${spec.valueName}>'`, command)
      setValue(spec, name, valueAfter(i, name, spec))
      i++
    }
  }

  if (found.length < positionals.length) throw usageError(`Missing expected argument '${positionals[found.length]}'`, command)
  const named = found.slice(0, positionals.length)
  let trailing = found.slice(positionals.length)
  if (passthroughAfter !== undefined) trailing = passthrough ?? []
  else if (rest === undefined && trailing.length > 0) throw usageError(`Unexpected argument '${trailing[0]}'`, command)
  if (restRequired && trailing.length === 0) throw usageError(`Missing expected argument '${rest} ...'`, command)
  return new Parsed(values, named, trailing)
}

/** Thrown by `-h`/`--help`: the caller prints the usage and exits 0. */
export class HelpRequest extends Error {
  /** @param {Command} command */
  constructor(command) {
    super('help')
    this.command = command
  }
}
