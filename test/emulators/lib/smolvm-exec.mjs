// @ts-check
// `machine exec` and `machine cp`. See smolvm-cli.mjs for the grammar and where each behaviour
// comes from.
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createReadStream, createWriteStream, existsSync, renameSync, rmSync, statSync } from 'node:fs'
import { constants as osConstants } from 'node:os'
import { dirname, posix, resolve } from 'node:path'
import { parse, parseDuration } from './smolvm-args.mjs'
import { fail, parseKeyValue, warn } from './smolvm-common.mjs'
import { cleanDockerMessage, docker, dockerSpawn } from './smolvm-docker.mjs'
import { getMachine } from './smolvm-machine.mjs'
import { endOfArchive, entryHeader, padding, readTarStream } from './smolvm-tar.mjs'

/** @typedef {import('./smolvm-machine.mjs').Machine} Machine */

/** @type {Record<string, import('./smolvm-args.mjs').Spec>} */
export const SPECS = {
  exec: {
    path: 'machine exec',
    usage: '[OPTIONS] <COMMAND>...',
    about: 'Run a command directly in the VM (not in a container)',
    options: [
      { long: 'name', value: 'NAME' }, // no -n on exec
      { short: 'w', long: 'workdir', value: 'DIR' },
      { short: 'e', long: 'env', value: 'KEY=VALUE', multiple: true },
      { long: 'timeout', value: 'DURATION', parse: parseDuration },
      { short: 'i', long: 'interactive' },
      { short: 't', long: 'tty' },
      { long: 'stream' },
    ],
    positional: { kind: 'trailing', value: 'COMMAND', required: true },
    notEmulated: ['secret-env', 'secret-file', 'detach', 'd'],
  },
  cp: {
    path: 'machine cp',
    usage: '[OPTIONS] <SRC> <DST>',
    about: 'Copy files between host and machine',
    options: [],
    positional: { kind: 'fixed', names: ['SRC', 'DST'] },
    notEmulated: ['mode', 'uid', 'gid'],
  },
}

/**
 * ensure_running_and_connect (src/cli/vm_common.rs, f4a136d onwards, "QA BUG-45"): an unknown
 * machine is `vm not found: NAME` (`machine 'default' not found` without --name); a known one that
 * is not running says how to start it. No "busy" refusal: the agent serves each connection on its
 * own thread (crates/smolvm-agent/src/main.rs run_server_with_listener, PR #216), so a second
 * exec or cp runs beside an interactive session.
 * @param {string} name @param {boolean} explicit @returns {Machine}
 */
function checkReachable(name, explicit) {
  const m = getMachine(name)
  if (!m) return fail(explicit ? `vm not found: ${name}` : `machine '${name}' not found`)
  if (!m.running) {
    const hint = explicit ? `smolvm machine start --name ${name}` : 'smolvm machine start'
    return fail(`machine '${name}' is not running. Use '${hint}' first.`)
  }
  return m
}

/** @param {number} ms */
function formatDuration(ms) {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`
  if (ms % 60_000 === 0) return `${ms / 60_000}m`
  if (ms % 1000 === 0) return `${ms / 1000}s`
  return `${ms}ms`
}

/**
 * Who exec runs as (ExecCmd::run in src/cli/machine.rs, resolve_image_runtime_defaults in
 * src/cli/vm_common.rs): in a machine with an image, the image's USER (no CLI or record override;
 * root when the image sets none); in a bare machine, root.
 * @param {Machine} m
 */
export const execUser = (m) => m.user || '0'

/** @param {string[]} argv */
export async function cmdExec(argv) {
  const { opts, rest } = parse(/** @type {import('./smolvm-args.mjs').Spec} */ (SPECS.exec), argv)
  const name = opts.string('name') ?? 'default'
  const m = checkReachable(name, opts.string('name') !== undefined)
  const env = opts.strings('env').map((e) => parseKeyValue(e, 'env').join('='))
  const interactive = opts.flag('interactive') || opts.flag('tty')
  const timeout = opts.number('timeout')
  const workdir = opts.string('workdir')
  const execId = randomBytes(8).toString('hex')
  const dockerArgs = [
    'exec',
    '-u',
    execUser(m),
    ...(opts.flag('interactive') ? ['-i'] : []),
    ...(opts.flag('tty') && process.stdin.isTTY ? ['-t'] : []),
    ...env.flatMap((e) => ['-e', e]),
    ...(timeout !== undefined ? ['-e', `SMOLVM_EMULATOR_EXEC_ID=${execId}`] : []),
    ...(workdir ? ['-w', workdir] : []),
    m.container,
    ...rest,
  ]

  /** @type {Buffer[]} */
  const stdout = []
  /** @type {Buffer[]} */
  const stderr = []
  /** @type {import('node:child_process').ChildProcess | null} */
  let child = null
  let timedOut = false
  /** @type {NodeJS.Timeout | null} */
  let timer = null
  const buffered = !interactive && !opts.flag('stream')
  /** @param {NodeJS.Signals} sig */
  const onSignal = (sig) => {
    child?.kill(sig)
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  try {
    const result = await dockerSpawn(dockerArgs, {
      stdio: [opts.flag('interactive') ? 'inherit' : 'ignore', buffered ? 'pipe' : 'inherit', buffered ? 'pipe' : 'inherit'],
      onSpawn: (c) => {
        child = c
        if (buffered) {
          c.stdout?.on('data', (d) => stdout.push(d))
          c.stderr?.on('data', (d) => stderr.push(d))
        }
        if (timeout !== undefined) {
          timer = setTimeout(() => {
            timedOut = true
            killGuestExec(m.container, execId)
            c.kill('SIGKILL')
          }, timeout)
        }
      },
    })
    if (timer) clearTimeout(timer)
    if (buffered) {
      await writeAll(process.stdout, Buffer.concat(stdout))
      await writeAll(process.stderr, Buffer.concat(stderr))
    }
    if (timedOut) {
      warn(`Error: command timed out after ${formatDuration(timeout ?? 0)}`)
      process.exitCode = 124
      return
    }
    if (result.error) fail(`vm exec: ${result.error.message}`)
    // 128 + signal for a signal-killed command, as the agent's exit_code_from_status (process.rs)
    process.exitCode = result.code ?? 128 + (result.signal ? osConstants.signals[result.signal] : 9)
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

/** @param {string} container @param {string} execId */
function killGuestExec(container, execId) {
  // every guest process started by this exec carries the marker variable: SIGKILL them all at once
  const script = `pids=; for p in /proc/[0-9]*; do if tr '\\000' '\\n' < "$p/environ" 2>/dev/null | grep -qx 'SMOLVM_EMULATOR_EXEC_ID=${execId}'; then pids="$pids \${p#/proc/}"; fi; done; [ -n "$pids" ] && kill -9 $pids 2>/dev/null; exit 0`
  docker(['exec', '-u', '0', container, 'sh', '-c', script])
}

/** @param {NodeJS.WritableStream} stream @param {Buffer} buf @returns {Promise<void>} */
function writeAll(stream, buf) {
  if (buf.length === 0) return Promise.resolve()
  return new Promise((res) => stream.write(buf, () => res()))
}

/** @param {string[]} argv */
export async function cmdCp(argv) {
  const { positionals } = parse(/** @type {import('./smolvm-args.mjs').Spec} */ (SPECS.cp), argv)
  const [src = '', dst = ''] = positionals
  /** @param {string} s */
  const split = (s) => {
    const i = s.indexOf(':')
    return i === -1 ? null : { name: s.slice(0, i), path: s.slice(i + 1) }
  }
  const rs = split(src)
  const rd = split(dst)
  if (rs && rd) fail('exactly one of SRC or DST must use machine:path syntax (copying between two machines is not supported)')
  const remote = rs ?? rd
  if (!remote) return fail('one of SRC or DST must use machine:path syntax (e.g., myvm:/workspace/file)')
  if (remote.name === '') fail(`invalid machine:path '${rs ? src : dst}': empty machine name`)
  const m = checkReachable(remote.name, true)
  if (!remote.path.startsWith('/')) fail(`guest path must be absolute: '${remote.path}'`)
  if (rd) await upload(m, src, rd.path)
  else await download(m, remote.path, dst)
}

/** @param {Machine} m @param {string} localPath @param {string} guestPath */
async function upload(m, localPath, guestPath) {
  let st
  try {
    st = statSync(localPath)
  } catch {
    return fail(`read local file: ${localPath}: No such file or directory (os error 2)`)
  }
  if (st.isDirectory()) fail(`read local file: ${localPath}: Is a directory (os error 21) — machine cp copies single files only`)
  if (!st.isFile()) fail(`read local file: ${localPath}: not a regular file`)
  const target = posix.normalize(guestPath)
  if (target === '/' || guestPath.endsWith('/')) fail(`write file: ${guestPath}: Is a directory (os error 21)`)
  const parent = posix.dirname(target)
  const base = posix.basename(target)
  const probe = docker(['exec', '-u', '0', m.container, 'test', '-d', target])
  if (probe.code === 0) fail(`write file: ${guestPath}: Is a directory (os error 21)`)
  // One regular-file entry owned by root, mode 0644, extracted into PARENT: CpCmd::run sends uid, gid
  // and mode as None (without --uid/--gid/--mode), the agent writes as root, and None is "default
  // (0644)" (AgentRequest::FileWrite, crates/smolvm-protocol/src/lib.rs).
  let err = ''
  const size = st.size
  const header = entryHeader({ name: base, size, mode: 0o644, uid: 0, gid: 0, mtime: Math.floor(st.mtimeMs / 1000) })
  const r = await dockerSpawn(['cp', '-', `${m.container}:${parent}`], {
    stdio: ['pipe', 'ignore', 'pipe'],
    onSpawn: (child) => {
      const stdin = child.stdin
      if (!stdin) return
      child.stderr?.on('data', (c) => (err += c))
      stdin.on('error', () => {})
      stdin.write(header)
      const rsm = createReadStream(localPath)
      rsm.pipe(stdin, { end: false })
      rsm.on('end', () => {
        stdin.write(padding(size))
        stdin.end(endOfArchive())
      })
      rsm.on('error', () => stdin.end())
    },
  })
  if (r.code !== 0) fail(`write file: ${guestPath}: ${cleanDockerMessage(err) || `docker cp exited ${r.code}`}`)
}

/** @param {Machine} m @param {string} guestPath @param {string} localPath */
async function download(m, guestPath, localPath) {
  const dest = resolve(localPath)
  if (existsSync(dest) && statSync(dest).isDirectory()) fail(`write local file: ${localPath}: Is a directory (os error 21)`)
  if (!existsSync(dirname(dest))) fail(`write local file: ${localPath}: No such file or directory (os error 2)`)
  const tmp = `${dest}.smolvm-cp-${process.pid}-${randomBytes(3).toString('hex')}`
  let err = ''
  /** @type {string | null} */
  let problem = null
  let wrote = false
  let sawEntry = false
  /** @type {import('node:stream').Readable | null} */
  let output = null
  const done = dockerSpawn(['cp', '-L', `${m.container}:${guestPath}`, '-'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    onSpawn: (c) => {
      output = c.stdout
      c.stderr?.on('data', (d) => (err += d))
    },
  })
  const stream = /** @type {import('node:stream').Readable} */ (/** @type {unknown} */ (output))
  try {
    await readTarStream(stream, async (entry) => {
      if (sawEntry) return null
      sawEntry = true
      if (entry.type === '5') {
        problem = `read file: ${guestPath}: Is a directory (os error 21) — machine cp copies single files only`
        return null
      }
      if (entry.type !== '0' && entry.type !== '7') {
        problem = `read file: ${guestPath}: not a regular file`
        return null
      }
      const ws = createWriteStream(tmp)
      wrote = true
      return {
        write: (b) => (ws.write(b) ? undefined : once(ws, 'drain')),
        end: async () => {
          ws.end()
          await once(ws, 'finish')
        },
      }
    })
  } catch (e) {
    if (!problem) problem = `read file: ${guestPath}: ${e instanceof Error ? e.message : e}`
  }
  stream.resume()
  const r = await done
  if (r.code !== 0) {
    rmSync(tmp, { force: true })
    const msg = cleanDockerMessage(err)
    if (/Could not find the file|No such container:path|not found/i.test(msg)) fail(`read file: ${guestPath}: No such file or directory (os error 2)`)
    fail(`read file: ${guestPath}: ${msg || `docker cp exited ${r.code}`}`)
  }
  if (problem || !wrote) {
    rmSync(tmp, { force: true })
    fail(problem ?? `read file: ${guestPath}: nothing copied`)
  }
  renameSync(tmp, dest)
}
