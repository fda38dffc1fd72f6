// Credentials in a bottle's environment never go into a snapshot: their names are kept (so resume
// can supply them again from the host), their values are not. Which variables hold credentials is
// decided here, by name and by value; the table in test/unit/secrets.test.ts shows the choices.
import { settings } from './config.ts'
import type { BackendRun } from './run-config.ts'
import type { Metadata } from './state.ts'

/**
 * Names that hold credentials (tested on the name in upper case). Over-inclusion costs little: the
 * value stays out of the snapshot and resume hands in this host's value by name. Deliberately not
 * secret: TOKENIZERS_PARALLELISM (no `_TOKEN`), KEYBOARD_LAYOUT (KEY not at the end), PATH (`_PAT`
 * needs the underscore), PWD/OLDPWD (the working directory, not `_PWD`), GIT_AUTHOR_NAME and
 * CERT_AUTHORITY (AUTHOR and AUTHORITY are words of their own, not AUTH), SSH_AUTH_SOCK (a path).
 */
const CREDENTIAL_NAME = new RegExp(
  [
    '_TOKEN', // *_TOKEN*: GITHUB_TOKEN, NPM_TOKEN_RW
    'TOKEN$', // NGROK_AUTHTOKEN, TOKEN
    'SECRET',
    'PASSWORD',
    'PASSWD',
    'PASSPHRASE',
    '(^|_)PASS$', // SMTP_PASS
    '_PWD$',
    '_PAT$', // GITHUB_PAT
    'API_?KEY',
    'ACCESS_KEY',
    'PRIVATE_KEY',
    'KEY$', // SSH_KEY, OPENAI_KEY
    'CREDENTIAL',
    '^AWS_.*_KEY', // AWS_*_KEY*: AWS_SESSION_KEY_ID
    // *_AUTH* and AUTH*: AUTH_HEADER, NPM_AUTH, HTTP_AUTHORIZATION; not the words AUTHOR/AUTHORITY,
    // nor a socket's path (SSH_AUTH_SOCK names where the bottle's agent socket is mounted: blanked,
    // resume would hand in the host's path, which means nothing inside the bottle).
    '(^|_)AUTH(?!OR(S|ITY|ITIES)?(_|$))(?!\\w*_SOCK(ET)?$)',
  ].join('|'),
)

/** A URL with a password in it (scheme://user:pass@host, any name: DATABASE_URL, HTTPS_PROXY, REDIS_URL, jdbc:…). */
const URL_WITH_PASSWORD = /^([a-z][a-z0-9+.-]*:)+\/\/[^\s/?#@:]*:[^\s/?#]+@/i
/** A connection string with a password or key in it (Server=…;Password=…, Azure's AccountKey=…). */
const CONNECTION_STRING_SECRET = /(^|;)\s*(password|pwd|accountkey|sharedaccesskey)\s*=\s*[^;\s]/i

/** Whether a `NAME=value` entry holds a credential, by its name or its value. */
export function isCredential(entry: string): boolean {
  const [name, value] = splitEntry(entry)
  return CREDENTIAL_NAME.test(name.toUpperCase()) || URL_WITH_PASSWORD.test(value.trim()) || CONNECTION_STRING_SECRET.test(value)
}

/**
 * The names among `env` (`NAME=value` entries) that hold credentials: by name or value, listed by
 * the bottle (metadata `secret_env`) or the user (BOTTLE_TASKS_SECRET_ENV), or `recorded` as secret
 * by an earlier commit (a re-commit keeps them secret when the rule here would not name them).
 */
export function secretNames(env: string[], metadata: Metadata, recorded: readonly string[] = []): string[] {
  const listed = new Set([...(metadata.secret_env ?? []), ...settings().secretEnv, ...recorded])
  const secret = env.filter((entry) => isCredential(entry) || listed.has(splitEntry(entry)[0]))
  return [...new Set(secret.map((entry) => splitEntry(entry)[0]))]
}

/** `env` without the entries `secretNames` would name. */
export function withoutSecrets(env: string[], metadata: Metadata, recorded: readonly string[] = []): string[] {
  const secrets = new Set(secretNames(env, metadata, recorded))
  return env.filter((entry) => !secrets.has(splitEntry(entry)[0]))
}

/**
 * The names a bottle's record already calls secret: its recorded run (run-config.json) and the
 * snapshot it runs from (`bot-bottle.secret-env`, a comma-separated label).
 */
export function recordedSecretNames(run: BackendRun | undefined, snapshotLabel: string | undefined): string[] {
  const fromRun = run?.backend === 'docker' ? run.secretEnv : []
  return [...new Set([...fromRun, ...(snapshotLabel ?? '').split(',').filter(Boolean)])]
}

/**
 * The names of `names` this host's environment supplies on resume, said by name (never a value);
 * the others are said to be not supplied.
 */
export function resupply(names: string[], report: (message: string) => void): string[] {
  const unique = [...new Set(names)]
  const present = unique.filter((name) => process.env[name] !== undefined)
  const missing = unique.filter((name) => process.env[name] === undefined)
  if (present.length > 0) report(`handed in from this host's environment: ${present.join(', ')}`)
  if (missing.length > 0) report(`not in this environment, so not supplied: ${missing.join(', ')}`)
  return present
}

function splitEntry(entry: string): [name: string, value: string] {
  const at = entry.indexOf('=')
  return at === -1 ? [entry, ''] : [entry.slice(0, at), entry.slice(at + 1)]
}
