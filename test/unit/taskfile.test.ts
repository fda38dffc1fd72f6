import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { ROOT } from '../helpers.ts'

const taskfile = parse(readFileSync(join(ROOT, 'Taskfile.yml'), 'utf8')) as {
  vars: Record<string, string>
  tasks: Record<string, { desc?: string; cmds: string[] }>
}

describe('Taskfile.yml', () => {
  it('has a described task for every operation script', () => {
    for (const op of ['start', 'list', 'commit', 'resume', 'prune', 'watch', 'diff', 'fork', 'export', 'import', 'cleanup', 'demo', 'test']) {
      expect(taskfile.tasks[op]?.desc, op).toBeTruthy()
    }
  })

  it('gives SLUG a templated default, so a CLI value is not overridden', () => {
    expect(taskfile.vars.SLUG).toBe('{{.SLUG | default ""}}')
  })

  it('passes SLUG only shell-quoted', () => {
    for (const [name, task] of Object.entries(taskfile.tasks)) {
      for (const cmd of task.cmds) expect(cmd.replaceAll('{{if .SLUG}}{{shellQuote .SLUG}}{{end}}', ''), name).not.toMatch(/\.SLUG/)
    }
  })
})
