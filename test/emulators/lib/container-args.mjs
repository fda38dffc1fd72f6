// A small strict argument parser in the manner of swift-argument-parser, which the real
// `container` CLI uses: unknown options are refused, an option's value is the next word unless
// that word is itself an option, short flags may be grouped (`-it`), `--name=value` works, and
// positionals are counted. Usage errors exit 64 (EX_USAGE), like the real tool.

export const EXIT_USAGE = 64

/** An error the user caused; `code` is the exit status. */
export class CliError extends Error {
  constructor(message, { code = 1, usage } = {}) {
    super(message)
    this.code = code
    this.usage = usage
  }
}

export const usageError = (message, command) =>
  new CliError(message, { code: EXIT_USAGE, usage: command })

/** A boolean flag: `flag('detach', '-d', '--detach')`. */
export const flag = (key, ...names) => ({ key, names, takesValue: false })

/** An option with a value; `repeat` collects every occurrence into an array. */
export const option = (key, names, { repeat = false, valueName = key, choices } = {}) => ({
  key,
  names,
  takesValue: true,
  repeat,
  valueName,
  choices,
})

/** Accepted on every subcommand of the real CLI (Flags.Global / Flags.Logging). */
const GLOBAL = [flag('debug', '--debug')]

const looksLikeOption = (word) => word.length > 1 && word.startsWith('-')

/**
 * Parse `argv` for `command` (e.g. `{ name: 'container exec', usage: '…' }`).
 * `positionals` names the positional arguments in order (`['<image>']`); `rest` names the trailing
 * list (`'<arguments>'`); `passthroughAfter` is how many positionals come before everything is
 * taken as-is (the real `run`/`exec` capture the rest of the line for the process).
 * `unsupported` lists real options this emulator does not implement, to say so instead of "unknown".
 */
export function parse(argv, command, { options = [], positionals = [], rest, restRequired = false, passthroughAfter, unsupported = [] }) {
  const specs = [...options, ...GLOBAL]
  const byName = new Map()
  for (const spec of specs) for (const name of spec.names) byName.set(name, spec)
  const values = {}
  for (const spec of specs) values[spec.key] = spec.takesValue ? (spec.repeat ? [] : undefined) : false
  const found = []
  let passthrough = null

  const setValue = (spec, name, value) => {
    if (spec.choices && !spec.choices.includes(value)) {
      throw usageError(`The value '${value}' is invalid for '${name} <${spec.valueName}>'`, command)
    }
    if (spec.repeat) values[spec.key].push(value)
    else values[spec.key] = value
  }
  const refuseUnknown = (name) => {
    if (unsupported.includes(name)) {
      throw usageError(`Option '${name}' of '${command.name}' is real but not supported by this emulator`, command)
    }
    throw usageError(`Unknown option '${name}'`, command)
  }

  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]
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
      const spec = byName.get(name)
      if (!spec) refuseUnknown(name)
      if (!spec.takesValue) {
        if (eq !== -1) throw usageError(`Unknown option '${word}'`, command)
        values[spec.key] = true
        continue
      }
      if (eq !== -1) {
        setValue(spec, name, word.slice(eq + 1))
        continue
      }
      const value = argv[i + 1]
      if (value === undefined || looksLikeOption(value)) throw usageError(`Missing value for '${name} <${spec.valueName}>'`, command)
      setValue(spec, name, value)
      i++
      continue
    }
    // One short option, or a group of short flags where only the last may take a value.
    const letters = word.slice(1).split('')
    for (let j = 0; j < letters.length; j++) {
      const name = `-${letters[j]}`
      const spec = byName.get(name)
      if (!spec) refuseUnknown(name)
      if (!spec.takesValue) {
        values[spec.key] = true
        continue
      }
      if (j !== letters.length - 1) throw usageError(`Missing value for '${name} <${spec.valueName}>'`, command)
      const value = argv[i + 1]
      if (value === undefined || looksLikeOption(value)) throw usageError(`Missing value for '${name} <${spec.valueName}>'`, command)
      setValue(spec, name, value)
      i++
    }
  }

  if (found.length < positionals.length) throw usageError(`Missing expected argument '${positionals[found.length]}'`, command)
  const named = found.slice(0, positionals.length)
  let trailing = found.slice(positionals.length)
  if (passthroughAfter !== undefined) trailing = passthrough ?? []
  else if (rest === undefined && trailing.length > 0) throw usageError(`Unexpected argument '${trailing[0]}'`, command)
  if (restRequired && trailing.length === 0) throw usageError(`Missing expected argument '${rest} ...'`, command)
  return { options: values, args: named, rest: trailing }
}

/** Thrown by `-h`/`--help`: the caller prints the usage and exits 0. */
export class HelpRequest extends Error {
  constructor(command) {
    super('help')
    this.command = command
  }
}
