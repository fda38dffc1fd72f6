// Imported by every module that validates: English messages for zod's tree-shakable build
// (zod/mini; the full build is 0.7 MB and costs ~30 ms of start-up per task), and the one way we
// read JSON from outside (a file, a label, a manifest) so that bad input names where it was.
import * as z from 'zod/mini'
import en from 'zod/v4/locales/en.js'
import { UsageError } from './errors.ts'

z.config(en())

/** Parse `text` as JSON that `schema` accepts; anything else is bad input (exit 2) naming `where`. */
export function parseJson<T>(schema: z.ZodMiniType<T>, text: string, where: string): T {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw new UsageError(`${where} is not valid JSON; fix or remove it by hand (it was left as it is)`)
  }
  const result = schema.safeParse(parsed)
  if (!result.success) {
    const issue = result.error.issues[0]
    throw new UsageError(`${where} is invalid: ${issue?.path.join('.') || '(root)'}: ${issue?.message} (it was left as it is)`)
  }
  return result.data
}
