import { describe, expect, it } from 'vitest'
import { StepError, ToolError, UsageError, errorText, lastLines } from '../../lib/errors.ts'
import { labelChange } from '../../lib/image-config.ts'

describe('errors as one line', () => {
  it('names the step and the tool with its stderr', () => {
    const error = new StepError('Commit the running bottle', new ToolError('docker commit x y', 1, 'Error response from daemon: max depth exceeded\n'))
    expect(errorText(error)).toBe('at "Commit the running bottle": docker: Error response from daemon: max depth exceeded')
  })

  it('says what to do when the engine is down or the tool is missing', () => {
    expect(errorText(new ToolError('docker ps', 1, 'Cannot connect to the Docker daemon at unix:///x.sock. Is the docker daemon running?'))).toMatch(
      /not reachable: start Docker/,
    )
    expect(errorText(new ToolError('docker ps', 127, 'bash: line 1: docker: command not found'))).toBe(
      '"docker" is not on PATH: install it (see README prerequisites) or fix PATH',
    )
  })

  it('keeps only the last lines of a long stderr', () => {
    expect(lastLines('a\n\nb\nc\n')).toBe('b / c')
    expect(errorText(new UsageError('x\ny'))).toBe('x')
  })
})

describe('labelChange', () => {
  it('escapes what a Dockerfile LABEL would expand or end early', () => {
    expect(labelChange('k', 'plain')).toBe('LABEL k="plain"')
    expect(labelChange('k', '{"a":"$HOME \\\\ x"}')).toBe('LABEL k="{\\"a\\":\\"\\$HOME \\\\\\\\ x\\"}"')
    expect(labelChange('k', 'two\nlines')).toBe('LABEL k="two lines"')
  })
})
