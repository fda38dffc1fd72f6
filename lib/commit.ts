// The steps of a commit, shared by the commit task and watch: the backend's own (flush, snapshot,
// read how the bottle runs), then the record (history, run configuration, committed-image).
import type { BottleBackend, CommitContext } from './backends/types.ts'
import { recordSnapshot, type SnapshotEntry } from './history.ts'
import type { Step } from './progress.ts'
import { runConfigOf } from './run-config.ts'
import { markPreserved, writeCommittedImage, writeRunConfig } from './state.ts'
import { writeFileRecord } from './file-list.ts'

export type CommitRecord = CommitContext & { entry?: SnapshotEntry }

/**
 * Built right before they run: the time they are built is the snapshot's `capturedAt`, the time
 * from which a change may be missing from it (watch compares the bottle's files with it), and
 * `changeSet` (watch's) what differed from the bottle's image just before.
 */
export function commitSteps(backend: BottleBackend, slug: string, message?: string, changeSet?: string): Step<CommitRecord>[] {
  const capturedAt = new Date().toISOString()
  return [
    ...backend.commitSteps(),
    {
      title: 'Record the snapshot, how the bottle runs, and the history',
      run: async (ctx) => {
        // Separate files, each written atomically: no order among them to keep.
        const [entry] = await Promise.all([
          recordSnapshot(
            backend,
            slug,
            ctx.snapshotRef!,
            { message, capturedAt, changeSet, container: ctx.files?.container, excludedBytes: ctx.excludedBytes, bases: [ctx.builtOn] },
            // Before the entry that names it (a list without its entry goes with the next history write).
            ctx.files ? (n) => writeFileRecord(slug, n, ctx.files!) : undefined,
          ),
          ctx.run ? writeRunConfig(slug, runConfigOf(ctx.run)) : undefined,
          writeCommittedImage(slug, ctx.snapshotRef!),
          markPreserved(slug),
        ])
        ctx.entry = entry
      },
    },
  ]
}
