// start: start a plain bottle and write its state dir; prints the slug.
import { resolve } from 'node:path'
import { copyFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { backendNamed } from '../lib/backends/index.ts'
import { UsageError, printResult, registerCleanup, runTask } from '../lib/cli.ts'
import { runSteps } from '../lib/progress.ts'
import { newSlug, verifyAgentName } from '../lib/slug.ts'
import { BACKENDS, createStateDir, hasState, removeStateDir, stateDir, statePath, writeMetadata, type Backend, type Metadata } from '../lib/state.ts'

await runTask({
  name: 'start',
  summary: 'start a new bottle from an image or a Dockerfile and write its state; prints the slug',
  usage: 'tsx tasks/start.ts --agent NAME (--image IMAGE | --dockerfile FILE) [--backend docker] [--json]',
  flags: [
    '--agent NAME         agent name; the slug is NAME-xxxxx',
    '--image IMAGE        image to start from (e.g. debian:bookworm-slim)',
    '--dockerfile FILE    per-bottle Dockerfile to build (kept in the state dir for rebuilds)',
    `--backend NAME       ${BACKENDS.join(' | ')} (default docker)`,
    '--json               print {slug, container, stateDir} as JSON',
  ],
  examples: ['task start -- --agent dev --image debian:bookworm-slim', 'SLUG=$(npx tsx tasks/start.ts --agent dev --image debian:bookworm-slim)'],
  options: {
    agent: { type: 'string' },
    image: { type: 'string' },
    dockerfile: { type: 'string' },
    backend: { type: 'string', default: 'docker' },
    json: { type: 'boolean' },
  },
  async run({ values, positionals }) {
    if (positionals.length > 0) throw new UsageError(`start takes no SLUG (got ${positionals.join(' ')}); it makes a new one`)
    if (!values.agent) throw new UsageError('--agent NAME is required')
    const agentName = verifyAgentName(values.agent)
    if (Boolean(values.image) === Boolean(values.dockerfile)) throw new UsageError('give exactly one of --image IMAGE or --dockerfile FILE')
    const dockerfile = values.dockerfile ? resolve(values.dockerfile) : undefined
    if (dockerfile && !existsSync(dockerfile)) throw new UsageError(`no such Dockerfile: ${dockerfile}`)
    if (!BACKENDS.includes(values.backend as Backend)) throw new UsageError(`unknown backend "${values.backend}": use ${BACKENDS.join(', ')}`)
    const backend = backendNamed(values.backend as Backend)

    let slug = newSlug(agentName)
    while (hasState(slug)) slug = newSlug(agentName)
    const metadata: Metadata = {
      identity: slug,
      agent_name: agentName,
      cwd: process.cwd(),
      copy_cwd: false,
      started_at: new Date().toISOString(),
      compose_project: '',
      backend: backend.name,
      ...(values.image ? { image: values.image } : {}),
    }
    const bottle = { slug, metadata }
    // A bottle that never started leaves no state behind.
    const forgetState = registerCleanup(() => removeStateDir(slug))
    await runSteps(
      [
        {
          title: 'Write the state dir',
          run: async () => {
            await createStateDir(slug)
            if (dockerfile) await copyFile(dockerfile, statePath(slug, 'dockerfile'))
            await writeMetadata(slug, metadata)
          },
        },
        {
          title: 'Build the image from the Dockerfile',
          enabled: () => Boolean(dockerfile),
          run: async (context: { image?: string }) => {
            context.image = await backend.rebuild(bottle)
          },
        },
        {
          title: `Start the bottle (${backend.name})`,
          run: (context: { image?: string }) => backend.start(bottle, context.image ?? values.image!),
        },
      ],
      {} as { image?: string },
      { quiet: values.json },
    )
    forgetState()
    printResult(values.json, { slug, backend: backend.name, stateDir: stateDir(slug) }, () => `${slug}\n`)
  },
})
