#!/usr/bin/env node
// npm run build: each task bundled into dist/<task>.mjs — one file with all its dependencies, run
// with plain node, executable, and able to say which version and commit it was built from.
//
// Start-up is what a user feels: Node compiles the whole bundle before the first line runs, about
// 4 ms per 100 KB here. So the big packages a task needs only later (listr2
// when steps run on a terminal, yaml for compose bottles, tar-stream for export --base) are imported
// dynamically and kept in the bundle as text, compiled on first use (a string costs almost nothing
// to parse). Our own modules stay code: the backends are dynamic imports that esbuild evaluates lazily.
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

/** Third-party packages imported dynamically: each becomes text in the bundle, compiled when first imported. */
const LAZY_TEXT = ['listr2', 'yaml', 'tar-stream']

const lazyText = {
  name: 'lazy-text',
  setup(plugin) {
    plugin.onResolve({ filter: new RegExp(`^(${LAZY_TEXT.join('|')})$`) }, (args) =>
      args.kind === 'dynamic-import' ? { path: args.path, namespace: 'lazy-text' } : undefined,
    )
    plugin.onLoad({ filter: /.*/, namespace: 'lazy-text' }, async (args) => {
      const { outputFiles } = await build({
        stdin: { contents: `module.exports = require(${JSON.stringify(args.path)})`, resolveDir: root, loader: 'js' },
        bundle: true,
        platform: 'node',
        format: 'cjs',
        target: 'node20',
        minify: true,
        write: false,
        logLevel: 'error',
      })
      const source = outputFiles[0].text
      // CommonJS: the importer's namespace gets the package's exports as named exports.
      return {
        loader: 'js',
        contents: `const module_ = { exports: {} }; new Function('module', 'exports', 'require', ${JSON.stringify(source)})(module_, module_.exports, require); module.exports = module_.exports`,
      }
    })
  },
}

/**
 * Node's own modules as `require()` at the point of use: an ESM bundle would import every one of
 * them up front (several ms each for zlib, child_process, streams, net, http), even for the parts of
 * a task that never run, such as the Engine API or compression for `--help`.
 */
const lazyBuiltins = {
  name: 'lazy-builtins',
  setup(plugin) {
    // The shim's own require is Node's (external); everyone else's import goes through the shim.
    plugin.onResolve({ filter: /^node:/ }, (args) => (args.namespace === 'lazy-builtin' ? { path: args.path, external: true } : { path: args.path, namespace: 'lazy-builtin' }))
    // Its exports are getters that load the module on first use: an importer's namespace copies
    // getters (esbuild's __toESM), so importing `createHash` loads node:crypto only when it is called.
    // The names are this Node's (the build's); the bundles target the same major.
    plugin.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, async (args) => {
      const names = Object.keys(await import(args.path)).filter((name) => name !== 'default')
      return {
        loader: 'js',
        contents: [
          `let loaded; const load = () => (loaded ??= require(${JSON.stringify(args.path)}));`,
          `for (const name of ${JSON.stringify(names)}) Object.defineProperty(module.exports, name, { get: () => load()[name], enumerable: true });`,
        ].join('\n'),
      }
    })
  },
}

const tasks = readdirSync(`${root}tasks`).filter((name) => name.endsWith('.ts'))
await build({
  plugins: [lazyText, lazyBuiltins],
  entryPoints: tasks.map((name) => `${root}tasks/${name}`),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outdir: `${root}dist`,
  outExtension: { '.js': '.mjs' },
  // Minified, the bundle is a quarter smaller and compiles that much faster (stack traces are for
  // developers, who run the sources with tsx); names are kept for whatever reads them.
  minify: true,
  keepNames: true,
  logLevel: 'warning',
  define: { __BOTTLE_TASKS_VERSION__: JSON.stringify(`${version} (${commit})`) },
  banner: {
    js: "#!/usr/bin/env node\nimport { createRequire as __bottleTasksRequire } from 'node:module'; const require = __bottleTasksRequire(import.meta.url);",
  },
})
for (const name of tasks) chmodSync(`${root}dist/${name.replace(/\.ts$/, '.mjs')}`, 0o755)
