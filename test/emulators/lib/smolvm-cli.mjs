// @ts-check
// smolvm emulator (bottle-tasks tests): the `smolvm` v1.9.x CLI grammar, doing the real work with
// Docker. smolvm (libkrun microVMs) cannot run on the Linux CI machine, so the smolmachines backend is
// tested against this. Put test/emulators first on PATH. Node built-ins only.
//
// WHAT A "MACHINE" IS HERE
//   A Docker container named `smolvm-<NAME>`, labelled `bottle-tasks.emulator=smolvm` plus
//   `smolvm.name`, `smolvm.cpus`, `smolvm.mem`, `smolvm.image`, `smolvm.created_at` (unix seconds),
//   `smolvm.labels` (JSON of the --label pairs), `smolvm.network`, `smolvm.mounts`, `smolvm.ports`,
//   `smolvm.user` (who exec runs as), … Its main process is `docker-init -- sleep infinity` as root
//   (so `exec` works once started; the image needs a `sleep`).
//   `machine create` does NOT start it: state `created`. States: created | running | stopped
//   (docker: created | running | exited), paused → frozen, dead → failed.
//   Without --net the container gets `--network none` (a smolvm VM has no outbound network without
//   --net); -p without --net is recorded (ls counts it) but publishes nothing: the emulator never
//   gives a VM a network it was created without (where real smolvm stands on that is not in the
//   facts; this is the strict side). --cpus/--mem are recorded, not enforced. The machine namespace is the whole Docker engine (not per user).
//   `machine create --image REF` `docker pull`s REF from its registry AT CREATE (real smolvm pulls
//   inside the VM at `start`; so a missing image fails create here); `--image ./x.tar` and
//   `--image -` (a `docker save` archive, file or stdin) are docker-loaded instead.
//
// GRAMMAR (strict, from the facts in /work/shared/reference/cli-facts.md and smolvm's clap sources)
//   machine create [--name|-n N] [--image|-I REF|./x.tar|-] [--from FILE.smolmachine] [--cpus N]
//                  [--mem MiB] [--net] [-e K=V]... [-w DIR] [-v HOST:GUEST[:ro]]... [-p H:G]...
//                  [--label K=V]... [--secret-env K=HOSTVAR]... [--secret-file K=PATH]... [-- CMD…]
//                  (--secret-env/--secret-file: with --from accepted and IGNORED, as v1.9 does;
//                  without --from not emulated. See SOURCES.)
//   machine start [--name|-n N]          machine stop [--name|-n N]
//   machine delete|rm --name|-n N [-f]   machine ls|list [--json] [-v]
//   machine status [--name|-n N] [--json]
//   machine exec [--name N] [-i] [-t] [-e K=V]... [-w DIR] [--timeout 30s] [--stream] [--] CMD ARGS…
//   machine cp SRC DST                   (exactly one side NAME:/path)
//   pack create (--image|-I REF | --from-vm NAME) -o|--output PATH [--cpus N] [--mem MiB] [--entrypoint CMD]
//   --version | -V, --help | -h
//
// EXIT STATUS AND ERRORS
//   * Command-line errors are clap's: `error: …` + usage on stderr, exit 2. That covers unknown
//     subcommands and flags, `-n` on `machine exec` (only --name there), a bare positional name
//     (`machine create myvm`, `machine start myvm`), `--from` together with `--image`, missing
//     required flags, bad values (`--cpus x`, `--timeout 3x`, `-p 80`).
//   * smolvm's own errors: `Error: <message>` on stderr, exit 1. Messages (the parts the facts quote;
//     real smolvm prefixes some with "<kind> operation failed: <operation>: ", so match substrings):
//       Error: vm not found: NAME                                   (start/delete/status --json)
//       Error: machine 'NAME' already exists or is being created    (create)
//       Error: vm not found: NAME                                   (exec/cp/stop --name of an unknown machine)
//       Error: machine 'default' not found                          (exec/cp without --name, no `default`)
//       Error: machine 'NAME' is not running. Use 'smolvm machine start --name NAME' first.  (exec, cp)
//       Error: machine name …                                       (create: name rules)
//       Error: output path must not end in .smolmachine: …          (pack create -o x.smolmachine)
//       Error: failed to pull image 'REF': <docker's reason>        (pack create / machine create --image)
//       Error: VM 'NAME' is running. Stop it first with: smolvm machine stop --name NAME  (pack --from-vm)
//       Error: VM 'NAME' not found                                  (pack --from-vm)
//   * Real smolvm options this emulator does not implement (e.g. --smolfile, --init, exec -d,
//     `machine run`, `pack push`) fail with `Error: smolvm emulator: … not emulated`, exit 1.
//   * `machine stop` of a machine that is not running prints `Machine 'N' is not running (state: S)`,
//     exit 0; with no --name and no `default` record it prints `Stopping machine 'default'...` then
//     `Machine 'default' stopped`, exit 0 (stop_vm_named / stop_vm_default in src/cli/vm_common.rs,
//     stored commits f4a136d and 0a68ee2). An unknown --name fails: `Error: vm not found: N`, exit 1
//     (stop_vm_named returns Error::vm_not_found from f4a136d on, so in v1.9).
//   * `machine delete` without -f: a running machine is STOPPED FIRST (smolvm does that before it
//     asks), then `Delete machine 'N'? [y/N] ` on stderr; anything but y/yes (empty or closed stdin
//     included) prints `Cancelled` and exits 0 WITHOUT deleting.
//
// SOURCES (smol-machines/smolvm; read at the stored commit of src/cli/machine.rs, 00ec173, and
//   src/cli/vm_common.rs; the facts file /work/shared/reference/cli-facts.md for the rest):
//   ExecCmd::run (machine.rs): a machine with an image runs the command inside the image's rootfs
//   with RunConfig.with_user(defaults.user), defaults from resolve_image_runtime_defaults
//   (vm_common.rs): the image's USER ("Image `User` flows through unchanged because there is no CLI
//   or persisted override for it"), root when the image has none; a bare machine (no image) runs it
//   with vm_exec in the VM's own root filesystem, as root. CreateCmd::run_from_smolmachine: a
//   machine made --from an image-mode pack has the pack's image (so exec runs as its USER), the
//   pack's workdir and env (+ -e), cpus/mem only when they differ from 4/8192, network = the
//   pack's || --net. start_vm_named (vm_common.rs): the workload container (entrypoint + cmd) is
//   started without a user (as root). list_vms: the `ls --json` fields.
//   v1.9.0 was cut 2026-08-20 (PR #1002); the store has no tags, so each commit below is placed by
//   the PRs it contains.
//   Signal-killed guest command: exit_code_from_status (crates/smolvm-agent/src/process.rs, 0a68ee2;
//   PR #324, 2026-05-31) gives 128 + signal; TIMEOUT_EXIT_CODE = 124 in the same file.
//   pack --from-vm: PackCreateCmd::pack_from_vm (src/cli/pack.rs, 04e156e): "Entrypoint baseline:
//   VmRecord > /bin/sh default", manifest.cmd = the record's cmd; --entrypoint or a Smolfile wins.
//   Secrets (v1.9, machine.rs 00ec173): `machine create --secret-env GUEST=HOSTVAR` keeps a
//   reference resolved from the host's env at every start and exec (never the value), but
//   CreateCmd::run_from_smolmachine takes the machine's secret_refs from the pack's manifest only
//   (`secret_refs: manifest.secret_refs`): with --from the flags are neither parsed nor kept, so the
//   machine gets nothing from them. `machine exec --secret-env` hands a value to one exec only
//   (not emulated). bottle-tasks hands host values in on exec's stdin instead (see EXEC).
//   exec -i with stdin not a terminal: AgentClient::interactive_session (src/agent/client.rs,
//   04d64f6) forwards each chunk read from stdin as AgentRequest::Stdin and, when the read returns
//   0 (EOF), one empty Stdin frame, which the command reads as EOF. Without -i/-t stdin is not read.
//   machine cp: CpCmd::run (machine.rs, 00ec173) sends FileWriteMeta {mode, uid, gid} = None unless
//   --mode/--uid/--gid (PR #997); the agent writes as root ("Files pushed with machine cp always
//   arrived root-owned", PR #997) with mode "None = default (0644)" (AgentRequest::FileWrite doc,
//   crates/smolvm-protocol/src/lib.rs): uploads here are root:root 0644. A download is written on the host by AgentClient::receive_stream_to_path
//   (src/agent/client.rs) with File::create: the invoking user's file, 0666 & ~umask, an existing
//   file truncated in place (so it keeps its mode).
//   Bare machine root: scripts/build-agent-rootfs.sh (02715c3; db097f5 the same): Alpine 3.19
//   minirootfs (busybox sh, tar, gzip; no bash, no GNU coreutils) + crane, jq, e2fsprogs, crun,
//   util-linux, libcap, seatd, /sbin/init -> smolvm-agent; ExecCmd's doc: "Execute a command
//   directly in the VM's Alpine rootfs".
//
// EXEC
//   Runs as the machine's image USER (root without one; root in a bare machine), with the machine's
//   env and workdir (-e/-w add/override). There is no option to run as another user.
//   Exit status = the guest command's; 128 + N when it dies of signal N (exit_code_from_status, see
//   SOURCES). Without --stream (and without -i/-t) stdout and stderr are
//   buffered until the command ends, then written (stdout first). --stream passes them through live.
//   --timeout kills the guest command and exits 124 with `Error: command timed out after DURATION`
//   (124 is smolvm's TIMEOUT_EXIT_CODE; the text is the emulator's: a stored agent run path appends
//   "\ncontainer timed out after {ms}ms" to the command's stderr instead).
//   With -i the command reads this process's stdin and then EOF, like a pipe (docker exec -i);
//   without -i or -t its stdin is empty (see SOURCES, interactive_session). (-t alone: real smolvm
//   forwards stdin too; here it does not.)
//   Does not start a stopped machine. An unknown machine is `vm not found: N` (`machine 'default' not
//   found` without --name): ensure_running_and_connect (vm_common.rs, f4a136d on; "QA BUG-45").
//   A second exec or cp runs beside an interactive session: v1.9's agent serves every vsock
//   connection on its own thread (run_server_with_listener, crates/smolvm-agent/src/main.rs, 04d64f6;
//   MAX_CONCURRENT_CONNECTIONS = 8; PR #216, fixing issue #199). (An earlier emulator refused it as
//   "busy": no smolvm source has that.)
//
// PACKS (`pack create`) and `machine create --from`: see lib/smolvm-pack.mjs for the artifact format.
//   --image REF is PULLED from its registry with `docker pull` (a local-only image is refused); a tag
//   the pull created is removed again afterwards. Real smolvm pulls inside a helper VM: with
//   SMOLVM_EMULATOR_PACK_LOOPBACK=unreachable a registry on loopback (127.x, localhost, [::1]) is
//   out of that VM's reach and the pull fails:
//     Error: failed to pull image 'REF': Get "http://HOST:PORT/v2/": dial tcp HOST:PORT: connect: connection refused
//   -o PATH writes the launcher PATH (executable shell script: `./PATH [CMD…]` loads the sidecar's
//   image and `docker run`s it once) and the artifact PATH.smolmachine (suffix appended: -o
//   a/b.img → a/b.img.smolmachine; -o x.smolmachine is refused). Writing to the same -o again replaces
//   both files. --from-vm NAME needs the machine stopped (docker commit of it); the pack's entrypoint
//   is the machine's entrypoint, /bin/sh when it has none, its cmd the machine's (pack_from_vm).
//   `machine create --from F` docker-loads the artifact's image (sha256-checked) into the engine, tags
//   it smolvm-emulator/pack:<id12> (removed again when the last machine using it is deleted) and
//   creates the machine from it: self-contained, works on an engine that never saw the image.
//   --cpus/--mem equal to the defaults (4, 8192) do not override the pack's values; -w is ignored
//   (the pack's workdir is used); -- CMD replaces the pack's entrypoint/cmd as the workload.
//   OWNERS: v1.9 packs keep the image's file owners (the default here). SMOLVM_EMULATOR_PACK_OWNERS=host
//   (read by `machine create --from`) emulates packs that show every file as the host user's
//   (uid SMOLVM_EMULATOR_HOST_UID, default 501, gid 20), as bot-bottle saw on macOS: at the FIRST
//   `machine start` of such a machine every file of its root filesystem is chowned to that user.
//
// WORKLOAD: `-- CMD` on create (or a pack's entrypoint/cmd for --from machines) is started detached
//   (`docker exec -d`, as root) on every `machine start`, like smolvm's workload container.
//
// ENVIRONMENT: SMOLVM_EMULATOR_DOCKER (docker binary), SMOLVM_EMULATOR_BARE_IMAGE (image of a machine
//   created without --image/--from, default debian:bookworm-slim, which DIFFERS: real smolvm runs a
//   bare machine in its Alpine 3.19 agent rootfs, see SOURCES; no Alpine image can be made on this
//   offline machine, and bottle-tasks never makes a bare machine), SMOLVM_EMULATOR_PACK_OWNERS, SMOLVM_EMULATOR_HOST_UID,
//   SMOLVM_EMULATOR_PACK_LOOPBACK. DOCKER_HOST/contexts as the docker CLI.
import { HelpRequested, NotEmulatedError, UsageError, clapError, helpText } from './smolvm-args.mjs'
import { SmolError, VERSION, say } from './smolvm-common.mjs'
import { cmdCp, cmdExec } from './smolvm-exec.mjs'
import { cmdCreate, cmdDelete, cmdLs, cmdStart, cmdStatus, cmdStop } from './smolvm-machine.mjs'
import { cmdPackCreate } from './smolvm-pack-create.mjs'

process.stdout.on('error', () => {})

const MACHINE_NOT_EMULATED = ['run', 'fork', 'fork-release', 'egress-events', 'resize', 'update', 'images', 'prune', 'shell', 'sh', 'monitor', 'network-test', 'data-dir']
const PACK_NOT_EMULATED = ['run', 'push', 'pull', 'inspect', 'prune']

/** @type {Record<string, (argv: string[]) => Promise<void>>} */
const MACHINE_COMMANDS = { create: cmdCreate, start: cmdStart, stop: cmdStop, delete: cmdDelete, rm: cmdDelete, status: cmdStatus, ls: cmdLs, list: cmdLs, exec: cmdExec, cp: cmdCp }

/** @type {import('./smolvm-args.mjs').Spec} */
const TOP_SPEC = { path: '', usage: '<COMMAND>', options: [] }
/** @type {import('./smolvm-args.mjs').Spec} */
const MACHINE_SPEC = { path: 'machine', usage: '<COMMAND>', options: [] }
/** @type {import('./smolvm-args.mjs').Spec} */
const PACK_SPEC = { path: 'pack', usage: '<COMMAND>', options: [] }

function topHelp() {
  return `smolvm ${VERSION} — bottle-tasks emulator (Docker underneath)

Usage: smolvm <COMMAND>

Commands:
  machine  Manage machines (create, start, stop, delete|rm, ls|list, status, exec, cp)
  pack     Package machines (create)

Options:
  -h, --help     Print help
  -V, --version  Print version
`
}

/** @param {string[]} argv @returns {Promise<number>} */
async function main(argv) {
  const [cmd, sub, ...rest] = argv
  if (cmd === undefined) {
    process.stderr.write(topHelp())
    return 2
  }
  if (cmd === '-V' || cmd === '--version') {
    say(`smolvm ${VERSION}`)
    return 0
  }
  if (cmd === '-h' || cmd === '--help' || cmd === 'help') {
    process.stdout.write(topHelp())
    return 0
  }
  if (cmd === 'machine') {
    if (sub === undefined || sub === '-h' || sub === '--help') {
      const text = `Manage machines\n\nUsage: smolvm machine <COMMAND>\n\nCommands: ${Object.keys(MACHINE_COMMANDS).join(', ')}\n`
      if (sub === undefined) {
        process.stderr.write(text)
        return 2
      }
      process.stdout.write(text)
      return 0
    }
    const command = MACHINE_COMMANDS[sub]
    if (!command) {
      if (MACHINE_NOT_EMULATED.includes(sub)) throw new NotEmulatedError(`'smolvm machine ${sub}' is a real smolvm command that this emulator does not implement`)
      throw new UsageError(`unrecognized subcommand '${sub}'`, MACHINE_SPEC)
    }
    await command(rest)
    return Number(process.exitCode ?? 0)
  }
  if (cmd === 'pack') {
    if (sub === 'create') {
      await cmdPackCreate(rest)
      return 0
    }
    if (sub === undefined) {
      process.stderr.write('Package and run self-contained VM executables\n\nUsage: smolvm pack <COMMAND>\n\nCommands: create\n')
      return 2
    }
    if (PACK_NOT_EMULATED.includes(sub)) throw new NotEmulatedError(`'smolvm pack ${sub}' is a real smolvm command that this emulator does not implement`)
    throw new UsageError(`unrecognized subcommand '${sub}'`, PACK_SPEC)
  }
  throw new UsageError(`unrecognized subcommand '${cmd}'`, TOP_SPEC)
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err) => {
    if (err instanceof HelpRequested) {
      process.stdout.write(helpText(err.spec))
      process.exitCode = 0
    } else if (err instanceof UsageError) {
      process.stderr.write(clapError(err.spec, err.message))
      process.exitCode = 2
    } else if (err instanceof NotEmulatedError) {
      process.stderr.write(`Error: smolvm emulator: ${err.message} (not emulated)\n`)
      process.exitCode = 1
    } else if (err instanceof SmolError) {
      process.stderr.write(`Error: ${err.message}\n`)
      process.exitCode = err.code
    } else {
      process.stderr.write(`Error: smolvm emulator internal error: ${err instanceof Error ? err.stack : err}\n`)
      process.exitCode = 1
    }
  },
)
