// The esbuild set-up every bundle of bottle-tasks is built with (scripts/build.mjs for the tasks,
// bench/ for the runtime floor): the same lazy loading, so a bundle pays for what it uses when it
// uses it.
import { build } from 'esbuild'

const root = new URL('..', import.meta.url).pathname

/** Third-party packages imported dynamically: each becomes text in the bundle, compiled when first imported. */
const LAZY_TEXT = ['zx/core', 'execa', 'listr2', 'yaml', 'tar-stream']

export const lazyText = {
  name: 'lazy-text',
  setup(plugin) {
    plugin.onResolve({ filter: new RegExp(`^(${LAZY_TEXT.map((name) => name.replace('/', '\\/')).join('|')})$`) }, (args) =>
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
export const lazyBuiltins = {
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


/** esbuild options for bundles run with plain node (ESM, minified, Node's own modules and the big packages loaded lazily). */
export const bundleOptions = {
  plugins: [lazyText, lazyBuiltins],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outExtension: { '.js': '.mjs' },
  // Minified, the bundle is a quarter smaller and compiles that much faster (stack traces are for
  // developers, who run the sources with tsx); names are kept for whatever reads them.
  minify: true,
  keepNames: true,
  logLevel: 'warning',
  banner: {
    js: "#!/usr/bin/env node\nimport { createRequire as __bottleTasksRequire } from 'node:module'; const require = __bottleTasksRequire(import.meta.url);",
  },
}
