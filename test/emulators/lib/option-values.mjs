// @ts-check
// What both emulators' parsers hand their commands: option values by key, read by type.

export class OptionValues {
  /** @param {Map<string, unknown>} values */
  constructor(values) {
    this.values = values
  }

  /** @param {string} key */
  flag(key) {
    return this.values.get(key) === true
  }

  /** @param {string} key @returns {string | undefined} */
  string(key) {
    const value = this.values.get(key)
    return typeof value === 'string' ? value : undefined
  }

  /** @param {string} key @returns {string[]} */
  strings(key) {
    const value = this.values.get(key)
    return Array.isArray(value) ? value : []
  }

  /** @param {string} key @returns {number | undefined} */
  number(key) {
    const value = this.values.get(key)
    return typeof value === 'number' ? value : undefined
  }

  /** @param {string} key */
  has(key) {
    return this.values.has(key)
  }
}
