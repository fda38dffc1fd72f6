// Which bottle a task works on: the SLUG given, or one picked from the candidates.
import { createInterface } from 'node:readline/promises'
import { UsageError } from './errors.ts'
import { verifySlug } from './slug.ts'
import { readMetadata } from './state.ts'
import type { Bottle } from './backends/types.ts'

export async function loadBottle(slug: string): Promise<Bottle> {
  verifySlug(slug)
  return { slug, metadata: await readMetadata(slug) }
}

/**
 * The slug given on the command line, or a picker of `candidates` on a terminal.
 * Without a terminal there is nobody to ask: fail and list what could have been taken.
 */
export async function chooseSlug(given: string | undefined, candidates: () => Promise<string[]>, purpose: string): Promise<string> {
  if (given !== undefined) return verifySlug(given)
  const slugs = await candidates()
  if (slugs.length === 0) throw new UsageError(`no SLUG given and there is no bottle to ${purpose}`)
  if (!process.stdin.isTTY || !process.stderr.isTTY) {
    throw new UsageError(`no SLUG given; bottles to ${purpose}: ${slugs.join(', ')}`)
  }
  return pick(slugs, purpose)
}

/** A numbered list and Node's readline: a prompt library would cost every task its load for one question. */
async function pick(slugs: string[], purpose: string): Promise<string> {
  process.stderr.write(`Bottles to ${purpose}:\n${slugs.map((slug, i) => `  ${i + 1}) ${slug}`).join('\n')}\n`)
  const prompt = createInterface({ input: process.stdin, output: process.stderr })
  try {
    const answer = (await prompt.question(`Which one? [1-${slugs.length}] `)).trim()
    const chosen = slugs[Number(answer) - 1] ?? slugs.find((slug) => slug === answer)
    if (!chosen) throw new UsageError(`no bottle ${JSON.stringify(answer)} in the list`)
    return chosen
  } finally {
    prompt.close()
  }
}

/** The one positional a task takes: at most one SLUG. */
export function singleSlugArgument(positionals: string[]): string | undefined {
  if (positionals.length > 1) throw new UsageError(`expected at most one SLUG, got ${positionals.length}: ${positionals.join(' ')}`)
  return positionals[0]
}
