#!/usr/bin/env node
// npm run build: each task bundled into dist/<task>.mjs — one file with all its dependencies, run
// with plain node, executable, and able to say which version and commit it was built from.
//
// Start-up is what a user feels: Node compiles the whole bundle before the first line runs, about
// 4 ms per 100 KB here. So the packages a task needs only later (zx when it runs its first command,
// execa when it streams, listr2 when it shows steps, yaml for compose bottles, tar-stream for export
// --base) are imported dynamically and kept in the bundle as text, compiled on first use (a string
// costs almost nothing to parse): scripts/bundle-options.mjs. Our own modules stay code: the
// backends are dynamic imports that esbuild evaluates lazily.
import { execFileSync } from 'node:child_process'
import { chmodSync, readdirSync, readFileSync } from 'node:fs'
import { build } from 'esbuild'
import { bundleOptions } from './bundle-options.mjs'

const root = new URL('..', import.meta.url).pathname
const { version } = JSON.parse(readFileSync(`${root}package.json`, 'utf8'))
let commit = 'unknown commit'
try {
  commit = execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  const dirty = execFileSync('git', ['-C', root, 'status', '--porcelain', '--untracked-files=no', '--', 'lib', 'tasks'], { encoding: 'utf8' }).trim()
  if (dirty) commit += ', modified'
} catch {
  // not a git checkout
}

const tasks = readdirSync(`${root}tasks`).filter((name) => name.endsWith('.ts'))
await build({
  ...bundleOptions,
  entryPoints: tasks.map((name) => `${root}tasks/${name}`),
  outdir: `${root}dist`,
  define: { __BOTTLE_TASKS_VERSION__: JSON.stringify(`${version} (${commit})`) },
})
for (const name of tasks) chmodSync(`${root}dist/${name.replace(/\.ts$/, '.mjs')}`, 0o755)
