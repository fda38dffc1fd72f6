// OCI registry references.
import { UsageError } from './cli.ts'

// host[:port]/path[:tag][@digest], lowercase path components as the distribution spec allows.
const REFERENCE = /^(?<host>[a-zA-Z0-9.-]+(?::[0-9]+)?)\/(?<path>[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)(?::(?<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(?<digest>sha256:[0-9a-f]{64}))?$/

/** A reference that names its registry host (as docker decides: a dot, a port, or localhost). */
export function isRegistryRef(value: string): boolean {
  const host = REFERENCE.exec(value)?.groups?.host
  return host !== undefined && (host.includes('.') || host.includes(':') || host === 'localhost')
}

export function verifyRegistryRef(value: string): string {
  if (!isRegistryRef(value)) {
    throw new UsageError(`invalid registry reference ${JSON.stringify(value)}: use REGISTRY[:PORT]/REPO[:TAG], e.g. 127.0.0.1:5000/bottles/dev:latest`)
  }
  return value
}
