// lib/shell.ts: commands run by zx's `$`, every template value one argument whatever it holds,
// failures as ToolErrors that name the command.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { errorText, ToolError } from '../../lib/errors.ts'
import { run, sh } from '../../lib/shell.ts'

/** The arguments a command received, as printf saw them. */
const received = async (values: unknown[]) => {
  const { stdout } = await sh`printf ${'%s\\0'} ${'start'} ${values}`
  return stdout.split('\0').slice(1, -1)
}

describe('sh', () => {
  it('gives each value to the command unchanged, as one argument (property)', async () => {
    // Anything an argv can hold: every character but NUL, shell syntax included.
    const value = fc.oneof(fc.string({ unit: 'grapheme' }), fc.constantFrom(' ', "'", '"', '$HOME', '$(id)', '`id`', '\n', ';', '|', '&', '>', '*', '~', '\\', '-rf', '--name=x', '#', '!', '{a,b}', '\t', ''))
    await fc.assert(
      fc.asyncProperty(fc.array(value.filter((text) => !text.includes('\0')), { maxLength: 6 }), async (values) => {
        expect(await received(values)).toEqual(values)
      }),
      { numRuns: 60 },
    )
  })
  it('spreads arrays, keeps empty strings, and joins a value written against text to that word', async () => {
    expect((await sh`printf ${'%s|'} ${['exec', '-i']} ${[]} c ${''}`).stdout).toBe('exec|-i|c||')
    expect((await sh`printf ${'%s|'} --name=${'a b'} ${['p', 'q']}/r`).stdout).toBe('--name=a b|p|q/r|')
  })
  it('feeds input to stdin, and gives none otherwise', async () => {
    expect((await sh({ input: 'fed\n' })`cat`).stdout).toBe('fed\n')
    expect((await run(['cat'])).stdout).toBe('')
  })
  it('adds env to the environment', async () => {
    expect((await run(['sh', '-c', 'echo "$ONE $PATH"'], { env: { ONE: '1' } })).stdout).toBe(`1 ${process.env.PATH}\n`)
  })
})

describe('run', () => {
  it('throws a ToolError with the command, exit code and stderr; nothrow returns them', async () => {
    const failing = ['sh', '-c', 'echo out; echo bad >&2; exit 3']
    const error = await run(failing).catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(ToolError)
    expect(error).toMatchObject({ exitCode: 3, stderr: 'bad\n', command: "sh -c $'echo out; echo bad >&2; exit 3'" })
    expect(errorText(error)).toBe('sh: bad')
    await expect(run(failing, { nothrow: true })).resolves.toEqual({ stdout: 'out\n', stderr: 'bad\n', exitCode: 3 })
  })
  it('gives a command killed by a signal the exit code a shell would (128 + its number)', async () => {
    await expect(run(['sh', '-c', 'kill -HUP $$'], { nothrow: true })).resolves.toMatchObject({ exitCode: 129 })
    await expect(run(['sh', '-c', 'kill -KILL $$'], { nothrow: true })).resolves.toMatchObject({ exitCode: 137 })
  })
  it('words a missing command as the not-on-PATH hint', async () => {
    const error = await run(['bottle-tasks-no-such-tool', 'x']).catch((caught: unknown) => caught)
    expect(error).toMatchObject({ exitCode: 127 })
    expect(errorText(error)).toBe('"bottle-tasks-no-such-tool" is not on PATH: install it (see README prerequisites) or fix PATH')
  })
})
