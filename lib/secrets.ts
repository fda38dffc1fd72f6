// Credentials in a bottle's environment never go into a snapshot: their names are kept (so resume
// can supply them again from the host), their values are not.
import { settings } from './config.ts'
import type { Metadata } from './state.ts'

const CREDENTIAL_NAME = /(TOKEN|KEY|SECRET|PASSWORD|CREDENTIALS)$|^AUTH/i

/** The names among `env` (`NAME=value` entries) that hold credentials. */
export function secretNames(env: string[], metadata: Metadata): string[] {
  const listed = new Set([...(metadata.secret_env ?? []), ...settings().secretEnv])
  const names = env.map((entry) => entry.split('=', 1)[0]!)
  return [...new Set(names.filter((name) => CREDENTIAL_NAME.test(name) || listed.has(name)))]
}

/** `env` without the entries `secretNames` would name. */
export function withoutSecrets(env: string[], metadata: Metadata): string[] {
  const secrets = new Set(secretNames(env, metadata))
  return env.filter((entry) => !secrets.has(entry.split('=', 1)[0]!))
}

/** The names of `names` this host's environment can supply on resume; the others are reported as not supplied. */
export function resupply(names: string[], report: (message: string) => void): string[] {
  const unique = [...new Set(names)]
  const missing = unique.filter((name) => process.env[name] === undefined)
  if (missing.length > 0) report(`not in this environment, so not supplied: ${missing.join(', ')}`)
  return unique.filter((name) => process.env[name] !== undefined)
}
