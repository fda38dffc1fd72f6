// The shape the project promises: no import cycles; only the three CLI wrappers start docker,
// container or smolvm; backends do not know each other; tasks never branch on a backend's name.
import { readFileSync, readdirSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'

const ROOT = resolve(import.meta.dirname, '../..')
const files = ['lib', 'lib/backends', 'tasks'].flatMap((dir) =>
  readdirSync(join(ROOT, dir))
    .filter((name) => name.endsWith('.ts'))
    .map((name) => `${dir}/${name}`),
)
const source = (file: string) => readFileSync(join(ROOT, file), 'utf8')
/** The code without its comments (which quote command lines). */
const code = (file: string) =>
  source(file)
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/^\s*\/\/.*$/gm, '')
/** Our modules a file imports, statically or dynamically (type-only imports included: a cycle of types is still a knot). */
const importsOf = (file: string) =>
  [...source(file).matchAll(/(?:from|import\()\s*'(\.{1,2}\/[^']+\.ts)'/g)].map((match) => relative(ROOT, resolve(ROOT, dirname(file), match[1]!)))

describe('the shape of the code', () => {
  it('has no import cycles', () => {
    const graph = new Map(files.map((file) => [file, importsOf(file)]))
    const cycles: string[] = []
    const state = new Map<string, 'visiting' | 'done'>()
    const visit = (file: string, path: string[]) => {
      if (state.get(file) === 'done') return
      if (state.get(file) === 'visiting') {
        cycles.push([...path.slice(path.indexOf(file)), file].join(' → '))
        return
      }
      state.set(file, 'visiting')
      for (const next of graph.get(file) ?? []) visit(next, [...path, file])
      state.set(file, 'done')
    }
    for (const file of files) visit(file, [])
    expect(cycles).toEqual([])
  })

  it('starts docker, container and smolvm only from their wrappers', () => {
    const wrappers: Record<string, string> = { docker: 'lib/docker.ts', container: 'lib/container.ts', smolvm: 'lib/smolvm.ts' }
    const offenders = files.flatMap((file) =>
      Object.entries(wrappers)
        // A command the shell helper runs (sh`docker …`, run(['docker', …])), or an argv for a pipeline or spawn.
        .filter(([tool, wrapper]) => file !== wrapper && (new RegExp(`\\bsh(\\([^)]*\\))?\`\\s*${tool}\\b`).test(code(file)) || new RegExp(`(\\brun\\(|runPipeline|spawn|: Argv)[^\\n]*\\[\\s*'${tool}'`).test(code(file))))
        .map(([tool]) => `${file} runs ${tool}`),
    )
    expect(offenders).toEqual([])
  })

  it('keeps backends apart: none imports another', () => {
    const backends = ['docker', 'macos-container', 'smolmachines']
    const offenders = files
      .filter((file) => file.startsWith('lib/backends/') && !file.endsWith('index.ts'))
      .flatMap((file) => importsOf(file).filter((imported) => backends.some((backend) => imported === `lib/backends/${backend}.ts` && file !== imported)).map((imported) => `${file} imports ${imported}`))
    expect(offenders).toEqual([])
  })

  it('lets no task branch on a backend name', () => {
    const offenders = files.filter((file) => file.startsWith('tasks/') && /'(docker|macos-container|smolmachines)'/.test(code(file)))
    expect(offenders).toEqual([])
  })
})
