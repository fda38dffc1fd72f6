import { describe, expect, it } from 'vitest'
import { isValidSlug, newSlug, verifyAgentName, verifySlug } from '../../lib/slug.ts'
import { UsageError } from '../../lib/errors.ts'

describe('slug', () => {
  it('accepts what bot-bottle and start make', () => {
    for (const slug of ['dev-abc12', 'a', 'claude_1.x-9', 'x'.repeat(63)]) expect(isValidSlug(slug)).toBe(true)
  })

  it('refuses path separators, dot-dot, leading punctuation, upper case, spaces, metacharacters, empty and too long', () => {
    for (const slug of ['', '../x', 'a/b', 'a\\b', '..', 'a..b', '-rf', '.x', '_x', 'Dev', 'a b', 'a;b', '$(x)', '`x`', 'x'.repeat(64), 'a\n']) {
      expect(isValidSlug(slug), JSON.stringify(slug)).toBe(false)
      expect(() => verifySlug(slug)).toThrow(UsageError)
    }
  })

  it('names the bad value in the message', () => {
    expect(() => verifySlug('a/b')).toThrow('invalid slug "a/b"')
  })

  it('makes agent-xxxxx slugs that are valid', () => {
    const slugs = new Set(Array.from({ length: 200 }, () => newSlug('dev')))
    for (const slug of slugs) expect(slug).toMatch(/^dev-[a-z0-9]{5}$/)
    expect(slugs.size).toBeGreaterThan(190)
  })

  it('checks agent names', () => {
    expect(verifyAgentName('claude')).toBe('claude')
    expect(() => verifyAgentName('Claude')).toThrow(UsageError)
    expect(() => verifyAgentName('a.b')).toThrow(UsageError)
  })
})
