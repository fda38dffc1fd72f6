// @ts-check
// Image references the way the real CLI stores them: normalized to a full name
// (`debian:bookworm-slim` → `docker.io/library/debian:bookworm-slim`, `foo` → `docker.io/library/foo:latest`).
// JSON output carries the normalized form; `image list -q` and the table print it denormalized.
import { CliError } from './container-args.mjs'

const DEFAULT_DOMAIN = 'docker.io'
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/
const TAG = /^[\w][\w.-]{0,127}$/
const DIGEST = /^sha256:[a-f0-9]{64}$/

/** @typedef {{ domain?: string, path: string, tag?: string, digest?: string }} Reference */

/** Split a reference into domain, path, tag and digest; throws on an invalid one. @param {string} raw @returns {Reference} */
export function parseReference(raw) {
  const invalid = () => new CliError(`invalid reference: ${raw}`)
  let rest = raw
  /** @type {string | undefined} */
  let digest
  const at = rest.indexOf('@')
  if (at !== -1) {
    digest = rest.slice(at + 1)
    rest = rest.slice(0, at)
    if (!DIGEST.test(digest)) throw invalid()
  }
  /** @type {string | undefined} */
  let domain
  const slash = rest.indexOf('/')
  if (slash !== -1) {
    const first = rest.slice(0, slash)
    if (first.includes('.') || first.includes(':') || first === 'localhost') {
      domain = first
      rest = rest.slice(slash + 1)
    }
  }
  /** @type {string | undefined} */
  let tag
  const colon = rest.lastIndexOf(':')
  if (colon !== -1) {
    tag = rest.slice(colon + 1)
    rest = rest.slice(0, colon)
    if (!TAG.test(tag)) throw invalid()
  }
  if (rest === '' || !rest.split('/').every((part) => COMPONENT.test(part))) throw invalid()
  return { domain, path: rest, tag, digest }
}

/** @param {Reference} reference */
const format = ({ domain, path, tag, digest }) =>
  `${domain ? `${domain}/` : ''}${path}${tag ? `:${tag}` : ''}${digest ? `@${digest}` : ''}`

/** @param {string} raw */
export function normalizeReference(raw) {
  const ref = parseReference(raw)
  const domain = ref.domain ?? DEFAULT_DOMAIN
  const path = domain === DEFAULT_DOMAIN && !ref.path.includes('/') ? `library/${ref.path}` : ref.path
  const tag = ref.tag ?? (ref.digest ? undefined : 'latest')
  return format({ domain, path, tag, digest: ref.digest })
}

/** @param {string} normalized */
export function denormalizeReference(normalized) {
  const ref = parseReference(normalized)
  if (ref.domain !== DEFAULT_DOMAIN) return normalized
  const path = ref.path.startsWith('library/') ? ref.path.slice('library/'.length) : ref.path
  return format({ path, tag: ref.tag, digest: ref.digest })
}

/** NAME and TAG columns of `image list`. @param {string} normalized */
export function nameAndTag(normalized) {
  const ref = parseReference(denormalizeReference(normalized))
  return { name: format({ domain: ref.domain, path: ref.path }), tag: ref.tag ?? '<none>' }
}
