// lib/shell.ts: templates become argv by zx's rules, commands run without a shell, failures name the command.
import { describe, expect, it } from 'vitest'
import { errorText, ToolError } from '../../lib/errors.ts'
import { argvOf, commandLine, run, sh } from '../../lib/shell.ts'

const argv = (pieces: TemplateStringsArray, ...values: unknown[]) => argvOf(pieces, values)

describe('argvOf', () => {
  it('splits the text on whitespace and keeps each value whole', () => {
    expect(argv`docker  run ${'a b; rm -rf /'} --name ${"it's"}`).toEqual(['docker', 'run', 'a b; rm -rf /', '--name', "it's"])
  })
  it('spreads arrays, drops empty ones, keeps empty strings', () => {
    expect(argv`docker ${['exec', '-i']} ${[]} c ${''}`).toEqual(['docker', 'exec', '-i', 'c', ''])
  })
  it('joins a value written against text to that word', () => {
    expect(argv`cp ${'vm'}:${'/a b'} --name=${'x'} ${['p', 'q']}/r`).toEqual(['cp', 'vm:/a b', '--name=x', 'p', 'q/r'])
  })
  it('takes no shell syntax from the values', () => {
    expect(argv`echo ${'$(id)'} ${'`id`'} ${'>'} ${'*'}`).toEqual(['echo', '$(id)', '`id`', '>', '*'])
  })
})

describe('run', () => {
  it('passes arguments as they are, with no shell in between', async () => {
    const result = await sh`printf %s|%s ${'$HOME'} ${'a  b'}`
    expect(result.stdout).toBe('$HOME|a  b')
  })
  it('feeds input to stdin, and gives none otherwise', async () => {
    expect((await sh({ input: 'fed\n' })`cat`).stdout).toBe('fed\n')
    expect((await run(['cat'])).stdout).toBe('')
  })
  it('adds env to the environment', async () => {
    expect((await run(['sh', '-c', 'echo "$ONE $PATH"'], { env: { ONE: '1' } })).stdout).toBe(`1 ${process.env.PATH}\n`)
  })
  it('throws a ToolError with the command, exit code and stderr; nothrow returns them', async () => {
    const failing = ['sh', '-c', 'echo out; echo bad >&2; exit 3']
    const error = await run(failing).catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(ToolError)
    expect(error).toMatchObject({ exitCode: 3, stderr: 'bad\n', command: commandLine(failing) })
    expect(errorText(error)).toBe('sh: bad')
    await expect(run(failing, { nothrow: true })).resolves.toEqual({ stdout: 'out\n', stderr: 'bad\n', exitCode: 3 })
  })
  it('gives a command killed by a signal the exit code a shell would (128 + its number)', async () => {
    await expect(run(['sh', '-c', 'kill -HUP $$'], { nothrow: true })).resolves.toMatchObject({ exitCode: 129 })
    await expect(run(['sh', '-c', 'kill -KILL $$'], { nothrow: true })).resolves.toMatchObject({ exitCode: 137 })
  })
  it('words a missing command as the not-on-PATH hint', async () => {
    const error = await run(['bottle-tasks-no-such-tool', 'x']).catch((caught: unknown) => caught)
    expect(errorText(error)).toBe('"bottle-tasks-no-such-tool" is not on PATH: install it (see README prerequisites) or fix PATH')
  })
})

describe('commandLine', () => {
  it('quotes what a shell would split or expand', () => {
    expect(commandLine(['docker', 'run', '--label', 'a=b c', "it's", '$X', 'plain:1.0/x'])).toBe(`docker run --label 'a=b c' 'it'\\''s' '$X' plain:1.0/x`)
  })
})
