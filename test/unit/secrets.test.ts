// Which variables of a bottle's environment hold credentials (their values never go into a
// snapshot), by name and by value; what a re-commit keeps secret; what resume says it handed in.
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { isCredential, recordedSecretNames, resupply, secretNames, withoutSecrets } from '../../lib/secrets.ts'
import type { Metadata } from '../../lib/state.ts'

const metadata: Metadata = { identity: 'dev-abc12', agent_name: 'dev' }

beforeAll(() => {
  // Read once by settings(), on the first secretNames of this file.
  process.env.BOTTLE_TASKS_SECRET_ENV = 'TEAM_CODE,Customer_Ref'
})

// Names only (the value is plain): secret by the name rule.
const SECRET_NAMES = [
  // *_TOKEN* and *TOKEN
  'GITHUB_TOKEN', 'GH_TOKEN', 'NPM_TOKEN_RW', 'HF_TOKEN', 'ngrok_authtoken', 'TOKEN', 'SLACK_BOT_TOKEN', 'CI_JOB_TOKEN_FILE',
  // *SECRET*
  'SECRET', 'CLIENT_SECRET', 'JWT_SECRET_KEY', 'SECRETS_DIR', 'aws_secret_access_key',
  // *PASSWORD*, *PASSWD*, passphrases, *_PASS
  'DB_PASSWORD', 'PGPASSWORD', 'MYSQL_ROOT_PASSWD', 'GPG_PASSPHRASE', 'SMTP_PASS',
  // *_PWD, *_PAT
  'DB_PWD', 'GITHUB_PAT', 'AZURE_DEVOPS_PAT',
  // *API_KEY*, APIKEY, *ACCESS_KEY*, *PRIVATE_KEY*, *KEY
  'OPENAI_API_KEY', 'ANTHROPIC_API_KEY', 'STRIPE_APIKEY', 'AWS_ACCESS_KEY_ID', 'SSH_PRIVATE_KEY_PATH', 'SIGNING_KEY', 'LICENSE_KEY',
  // *CREDENTIAL*
  'GOOGLE_APPLICATION_CREDENTIALS', 'DOCKER_CREDENTIAL_HELPER', 'CREDENTIALS',
  // AWS_*_KEY*
  'AWS_SESSION_KEY_ID', 'AWS_KMS_KEY_ARN',
  // *_AUTH* and AUTH* (not the word AUTHOR)
  'AUTH_HEADER', 'NPM_AUTH', 'BASIC_AUTH_USER', 'HTTP_AUTHORIZATION', 'AUTHORIZATION', 'DOCKER_AUTH_CONFIG', 'PROXY_AUTH',
]

// Not secret: the rule must leave these values in the snapshot.
const PLAIN_NAMES = [
  'PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'SHLVL', 'TERM', 'COLUMNS', 'LINES', 'DISPLAY', 'LANG', 'LC_ALL', 'TZ', 'HOSTNAME', 'PWD', 'OLDPWD',
  // TOKEN only as a word's start, without the underscore: a tokenizer setting.
  'TOKENIZERS_PARALLELISM',
  // KEY not at the end.
  'KEYBOARD_LAYOUT', 'KEYMAP_FILE', 'XKB_KEYMAP',
  // AUTHOR and AUTHORITY are words of their own.
  'GIT_AUTHOR_NAME', 'GIT_AUTHOR_EMAIL', 'AUTHOR', 'CERT_AUTHORITY',
  // A socket's path inside the bottle: blanked, resume would hand in the host's path instead.
  'SSH_AUTH_SOCK',
  // PAT only as _PAT at the end; PASS only as a word of its own.
  'PATTERN', 'XDG_DATA_DIRS', 'COMPASS_PATH', 'BYPASS_CACHE',
  'NODE_ENV', 'NODE_OPTIONS', 'DEBIAN_FRONTEND', 'EDITOR', 'PAGER', 'NO_PROXY', 'HTTP_PROXY', 'DATABASE_URL', 'GIT_SSH_COMMAND', 'CI', 'BOT_BOTTLE_USER', 'JAVA_HOME', 'PYTHONPATH',
]

describe('the credential-name rule', () => {
  it('has a table of at least 40 names both ways', () => {
    expect(SECRET_NAMES.length).toBeGreaterThanOrEqual(40)
    expect(PLAIN_NAMES.length).toBeGreaterThanOrEqual(40)
  })

  it.each(SECRET_NAMES)('%s is secret', (name) => {
    expect(isCredential(`${name}=plain-looking`)).toBe(true)
  })

  it.each(PLAIN_NAMES)('%s is not secret (with a plain value)', (name) => {
    expect(isCredential(`${name}=plain-looking`)).toBe(false)
  })
})

describe('a value that holds a credential, whatever its name', () => {
  it.each([
    ['DATABASE_URL', 'postgres://app:s3cret@db:5432/app'],
    ['REDIS_URL', 'redis://:only-password@cache:6379/0'],
    ['MONGO', 'mongodb+srv://user:p%40ss@cluster0.example.net/db'],
    ['HTTPS_PROXY', 'http://me:hunter2@proxy.internal:3128'],
    ['JDBC', 'jdbc:postgresql://user:pw@db/app'],
    ['RAW_AT', 'mysql://root:p@ss@db/app'],
    ['AZURE_STORAGE', 'DefaultEndpointsProtocol=https;AccountName=x;AccountKey=abc123==;EndpointSuffix=core.windows.net'],
    ['SQLSERVER', 'Server=db;Database=app;User Id=sa;Password=Pa55;'],
  ])('%s=%s is secret', (name, value) => {
    expect(isCredential(`${name}=${value}`)).toBe(true)
  })

  it.each([
    ['DATABASE_URL', 'postgres://db:5432/app'],
    ['DATABASE_URL', 'postgres://app@db:5432/app'],
    ['HTTP_PROXY', 'http://proxy.internal:3128'],
    ['SITE', 'https://example.com:8443/users/@me'],
    ['QUERY', 'https://example.com/?a=b:c@d'],
    ['GIT_REMOTE', 'git@github.com:org/repo.git'],
    ['LOGIN_URL', 'https://user:@host/'],
    ['NOTE', 'password reset is at https://example.com'],
    ['EMPTY', ''],
  ])('%s=%s is not secret', (name, value) => {
    expect(isCredential(`${name}=${value}`)).toBe(false)
  })
})

describe('secretNames', () => {
  it('names each secret once, by the rule, the value, the bottle (secret_env) and the user (BOTTLE_TASKS_SECRET_ENV)', () => {
    const env = ['PATH=/usr/bin', 'GITHUB_TOKEN=ghp_x', 'DATABASE_URL=postgres://a:b@db/app', 'BOTTLE_CODE=1', 'TEAM_CODE=2', 'Customer_Ref=3', 'GITHUB_TOKEN=again', 'LANG=C']
    expect(secretNames(env, { ...metadata, secret_env: ['BOTTLE_CODE'] })).toEqual(['GITHUB_TOKEN', 'DATABASE_URL', 'BOTTLE_CODE', 'TEAM_CODE', 'Customer_Ref'])
  })

  it('keeps what the record already calls secret, though the rule would not name it (a re-commit)', () => {
    const env = ['PROJECT_CODE=xyz', 'PLAIN=1']
    expect(secretNames(env, metadata)).toEqual([])
    expect(secretNames(env, metadata, ['PROJECT_CODE'])).toEqual(['PROJECT_CODE'])
    expect(withoutSecrets(env, metadata, ['PROJECT_CODE'])).toEqual(['PLAIN=1'])
  })
})

describe('recordedSecretNames', () => {
  const dockerRun = { backend: 'docker', secretEnv: ['FROM_RUN', 'BOTH'] } as never
  it("takes a docker run's secretEnv and the snapshot's label, once each", () => {
    expect(recordedSecretNames(dockerRun, 'FROM_LABEL,BOTH')).toEqual(['FROM_RUN', 'BOTH', 'FROM_LABEL'])
    expect(recordedSecretNames(undefined, 'FROM_LABEL')).toEqual(['FROM_LABEL'])
    expect(recordedSecretNames({ backend: 'macos-container', envNames: ['X'] } as never, undefined)).toEqual([])
    expect(recordedSecretNames(undefined, '')).toEqual([])
  })
})

describe('resupply', () => {
  afterEach(() => {
    delete process.env.BT_UNIT_HANDED
  })

  it('says by name which values it hands in and which this environment lacks, never a value', () => {
    process.env.BT_UNIT_HANDED = 'the-value-itself'
    const reports: string[] = []
    expect(resupply(['BT_UNIT_HANDED', 'BT_UNIT_MISSING', 'BT_UNIT_HANDED'], (line) => reports.push(line))).toEqual(['BT_UNIT_HANDED'])
    expect(reports).toEqual(["handed in from this host's environment: BT_UNIT_HANDED", 'not in this environment, so not supplied: BT_UNIT_MISSING'])
    expect(reports.join('\n')).not.toContain('the-value-itself')
  })

  it('says nothing when there is nothing to hand in', () => {
    const reports: string[] = []
    expect(resupply([], (line) => reports.push(line))).toEqual([])
    expect(reports).toEqual([])
  })
})
