// An "outside host" for egress tests: a network namespace joined to this machine by a veth pair,
// with a TCP listener that answers "hello". A bottle on an internal network must not reach it; a
// control container on an ordinary network must (through the engine's forwarding and NAT). Reading
// routes proves nothing (internal networks on engine 20.10 still get a default route): we connect.
import { spawn, type ChildProcess } from 'node:child_process'
import { execa } from 'execa'
import { laneOfThisWorker } from './lanes.ts'

export interface OutsideHost {
  address: string
  port: number
  stop: () => Promise<void>
}

const LISTENER = `
const net = require('node:net')
const server = net.createServer((socket) => socket.end('hello\\n'))
server.listen(Number(process.argv[2]), process.argv[1], () => process.stdout.write('listening\\n'))
`

/**
 * Needs root and iproute2 (CI has both). `n` keeps the names and subnet apart from the other lane's
 * outside host (test/lanes.ts: the two engines' files run side by side).
 */
export async function startOutsideHost(n = laneOfThisWorker() === 'current' ? 1 : 0): Promise<OutsideHost> {
  const ns = `bt-outside-${n}`
  const host = `bto${n}h`
  const peer = `bto${n}p`
  const subnet = `198.18.${n}`
  const ip = (...args: string[]) => execa('ip', args)
  await execa('ip', ['netns', 'del', ns], { reject: false })
  await execa('ip', ['link', 'del', host], { reject: false })
  await ip('netns', 'add', ns)
  await ip('link', 'add', host, 'type', 'veth', 'peer', 'name', peer)
  await ip('link', 'set', peer, 'netns', ns)
  await ip('addr', 'add', `${subnet}.1/30`, 'dev', host)
  await ip('link', 'set', host, 'up')
  await ip('netns', 'exec', ns, 'ip', 'addr', 'add', `${subnet}.2/30`, 'dev', peer)
  await ip('netns', 'exec', ns, 'ip', 'link', 'set', peer, 'up')
  await ip('netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up')
  await ip('netns', 'exec', ns, 'ip', 'route', 'add', 'default', 'via', `${subnet}.1`)
  // Traffic towards the outside host is forwarded like traffic to the internet: appended after the
  // engines' own rules, so an engine's isolation of internal networks still comes first.
  const rules = [
    ['FORWARD', '-o', host, '-j', 'ACCEPT'],
    ['FORWARD', '-i', host, '-j', 'ACCEPT'],
  ]
  for (const rule of rules) await execa('iptables', ['-A', ...rule, '-m', 'comment', '--comment', ns])
  await execa('sysctl', ['-qw', 'net.ipv4.ip_forward=1'])
  const port = 4000 + n
  const listener: ChildProcess = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', LISTENER, `${subnet}.2`, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] })
  await new Promise<void>((resolve, reject) => {
    listener.stdout!.once('data', () => resolve())
    listener.once('exit', (code) => reject(new Error(`the outside listener exited (${code})`)))
  })
  return {
    address: `${subnet}.2`,
    port,
    stop: async () => {
      listener.kill()
      for (const rule of rules) await execa('iptables', ['-D', ...rule, '-m', 'comment', '--comment', ns], { reject: false })
      await execa('ip', ['link', 'del', host], { reject: false })
      await execa('ip', ['netns', 'del', ns], { reject: false })
    },
  }
}

/** The bash that tries to reach the outside host from inside a container: prints "hello" or "blocked". */
export function reachScript(outside: OutsideHost): string {
  // A dropped connection never answers: the connect is bounded, and only success is "hello".
  return `timeout 8 bash -c 'exec 3<>/dev/tcp/${outside.address}/${outside.port} && head -n1 <&3' 2>/dev/null || echo blocked`
}
