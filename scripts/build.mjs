#!/usr/bin/env node
// npm run build: each task bundled into dist/<task>.mjs — one file with all its dependencies, run
// with plain node, executable, and able to say which version and commit it was built from. The
// backends stay lazily evaluated inside it (dynamic imports become lazy modules, not chunks).
import { execFileSync } from 'node:child_process'
import { chmodSync, readdirSync, readFileSync } from 'node:fs'
import { build } from 'esbuild'

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
  entryPoints: tasks.map((name) => `${root}tasks/${name}`),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outdir: `${root}dist`,
  outExtension: { '.js': '.mjs' },
  logLevel: 'warning',
  define: { __BOTTLE_TASKS_VERSION__: JSON.stringify(`${version} (${commit})`) },
  banner: {
    js: "#!/usr/bin/env node\nimport { createRequire as __bottleTasksRequire } from 'node:module'; const require = __bottleTasksRequire(import.meta.url);",
  },
})
for (const name of tasks) chmodSync(`${root}dist/${name.replace(/\.ts$/, '.mjs')}`, 0o755)
