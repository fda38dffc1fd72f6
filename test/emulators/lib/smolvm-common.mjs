// @ts-check
// What every part of the smolvm emulator shares: smolvm's own errors (`Error: <message>`, exit 1),
// output helpers, the machine defaults (DEFAULT_MICROVM_CPU_COUNT 4, DEFAULT_MICROVM_MEMORY_MIB
// 8192: src/cli/machine.rs uses them as clap defaults) and the switches the tests set.

export const VERSION = '1.9.0'
export const LABEL = 'bottle-tasks.emulator'
export const PREFIX = 'smolvm-'
export const DEFAULT_CPUS = 4
export const DEFAULT_MEM = 8192
// DIFFERS: a real bare machine runs in the Alpine 3.19 agent rootfs (busybox sh/tar/gzip, no bash;
// scripts/build-agent-rootfs.sh), not Debian. See smolvm-cli.mjs SOURCES.
export const BARE_IMAGE = process.env.SMOLVM_EMULATOR_BARE_IMAGE || 'debian:bookworm-slim'

/**
 * Owners after a pack (`SMOLVM_EMULATOR_PACK_OWNERS`, read by `machine create --from`): `keep` (the
 * default, v1.9: the pack keeps the image's owners), or `host`: every file of the machine is owned
 * by the host user (uid SMOLVM_EMULATOR_HOST_UID, default 501, gid 20: a Mac's first user and
 * staff), as bot-bottle saw packs do on macOS before (its smolmachines fix "exclude /tmp+/var/tmp
 * from snapshot": "smolvm's pack process remaps all file uids to the host uid (501 on macOS)").
 */
export function packOwners() {
  const mode = process.env.SMOLVM_EMULATOR_PACK_OWNERS ?? 'keep'
  if (mode !== 'keep' && mode !== 'host') throw new SmolError(`smolvm emulator: SMOLVM_EMULATOR_PACK_OWNERS must be keep or host, not '${mode}'`)
  const uid = Number(process.env.SMOLVM_EMULATOR_HOST_UID ?? 501)
  return mode === 'keep' ? null : { uid, gid: 20 }
}

/**
 * `SMOLVM_EMULATOR_PACK_LOOPBACK=unreachable`: the helper VM `pack create` pulls in cannot reach the
 * host's loopback (a registry on 127.0.0.1 / localhost / ::1), as when the registry listens on the
 * loopback of another machine (a remote Docker engine) than the one smolvm runs on.
 */
export const packLoopbackUnreachable = () => process.env.SMOLVM_EMULATOR_PACK_LOOPBACK === 'unreachable'

export class SmolError extends Error {
  /** @param {string} message @param {number} [code] */
  constructor(message, code = 1) {
    super(message)
    this.code = code
  }
}

/** @param {string} message @param {number} [code] @returns {never} */
export const fail = (message, code = 1) => {
  throw new SmolError(message, code)
}

/** @param {string} text */
export const say = (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`)
/** @param {string} text */
export const warn = (text) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`)

/** @param {string | undefined} text @param {unknown} fallback @returns {any} */
export function json(text, fallback) {
  try {
    return text === undefined || text === '' ? fallback : JSON.parse(text)
  } catch {
    return fallback
  }
}

/** `KEY=VALUE`, split at the first "=" (an empty key is refused). @param {string} spec @param {string} what @returns {[string, string]} */
export function parseKeyValue(spec, what) {
  const eq = spec.indexOf('=')
  if (eq <= 0) fail(`invalid ${what} format '${spec}': expected KEY=VALUE`)
  return [spec.slice(0, eq), spec.slice(eq + 1)]
}
