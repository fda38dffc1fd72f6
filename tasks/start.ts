// start: start a plain bottle and write its state dir; prints the slug.
import { resolve } from 'node:path'
import { copyFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { backendNamed } from '../lib/backends/index.ts'
import { registerCleanup } from '../lib/cleanup.ts'
import { printResult, runTask } from '../lib/cli.ts'
import { UsageError } from '../lib/errors.ts'
import { flag, oneOf } from '../lib/flags.ts'
import { runSteps } from '../lib/progress.ts'
import { newSlug, verifyAgentName } from '../lib/slug.ts'
import { BACKENDS, DEFAULT_BACKEND, createStateDir, hasState, removeStateDir, stateDir, statePath, writeMetadata, type Metadata } from '../lib/state.ts'

await runTask({
  name: 'start',
  summary: 'start a new bottle from an image or a Dockerfile and write its state; prints the slug',
  usage: '--agent NAME (--image IMAGE | --dockerfile FILE) [--backend docker] [--json]',
  flags: {
    agent: flag.string('NAME', 'agent name; the slug is NAME-xxxxx', { parse: (raw) => verifyAgentName(raw) }),
    image: flag.string('IMAGE', 'image to start from (e.g. debian:bookworm-slim)'),
    dockerfile: flag.string('FILE', 'per-bottle Dockerfile to build (kept in the state dir for rebuilds)', { parse: (raw) => resolve(raw) }),
    backend: flag.defaulted('NAME', `${BACKENDS.join(' | ')} (default ${DEFAULT_BACKEND})`, DEFAULT_BACKEND, { parse: oneOf(BACKENDS) }),
    json: flag.boolean('print {slug, backend, stateDir} as JSON'),
  },
  examples: [{ args: '--agent dev --image debian:bookworm-slim' }, { args: '--agent dev --dockerfile ./Dockerfile --json' }],
  async run({ values, positionals }) {
    if (positionals.length > 0) throw new UsageError(`start takes no SLUG (got ${positionals.join(' ')}); it makes a new one`)
    const { agent, image, dockerfile } = values
    if (!agent) throw new UsageError('--agent NAME is required')
    if (Boolean(image) === Boolean(dockerfile)) throw new UsageError('give exactly one of --image IMAGE or --dockerfile FILE')
    if (dockerfile && !existsSync(dockerfile)) throw new UsageError(`no such Dockerfile: ${dockerfile}`)
    const backend = await backendNamed(values.backend)

    let slug = newSlug(agent)
    while (hasState(slug)) slug = newSlug(agent)
    const metadata: Metadata = {
      identity: slug,
      agent_name: agent,
      cwd: process.cwd(),
      copy_cwd: false,
      started_at: new Date().toISOString(),
      compose_project: '',
      backend: backend.name,
      ...(image ? { image } : {}),
    }
    const bottle = { slug, metadata }
    // A bottle that never started leaves no state behind.
    const forgetState = registerCleanup(() => removeStateDir(slug))
    await runSteps<{ image?: string }>(
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
          run: async (context) => {
            context.image = await backend.rebuild(bottle)
          },
        },
        {
          title: `Start the bottle (${backend.name})`,
          run: (context) => backend.start(bottle, context.image ?? image!),
        },
      ],
      {},
      { quiet: values.json },
    )
    forgetState()
    printResult(values.json, { slug, backend: backend.name, stateDir: stateDir(slug) }, () => `${slug}\n`)
  },
})
