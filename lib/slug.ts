import { randomInt } from 'node:crypto'
import { UsageError } from './errors.ts'

// Lowercase so it can be part of a Docker image name; no `/` or `..` so it is safe in a path.
const SLUG = /^[a-z0-9][a-z0-9_.-]{0,62}$/
const AGENT = /^[a-z0-9][a-z0-9_-]{0,56}$/
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789'

export function isValidSlug(value: string): boolean {
  return SLUG.test(value) && !value.includes('..')
}

export function verifySlug(value: string): string {
  if (!isValidSlug(value)) {
    throw new UsageError(
      `invalid slug ${JSON.stringify(value)}: use 1-63 lowercase letters, digits, "-", "_" or "." (starting with a letter or digit, no "..")`,
    )
  }
  return value
}

export function verifyAgentName(value: string): string {
  if (!AGENT.test(value)) {
    throw new UsageError(
      `invalid agent name ${JSON.stringify(value)}: use 1-57 lowercase letters, digits, "-" or "_", starting with a letter or digit`,
    )
  }
  return value
}

/** `dev` → `dev-k3x9q`: the agent name, a dash, five random lowercase letters/digits. */
export function newSlug(agentName: string): string {
  let suffix = ''
  for (let i = 0; i < 5; i++) suffix += ALPHABET[randomInt(ALPHABET.length)]
  return `${agentName}-${suffix}`
}
