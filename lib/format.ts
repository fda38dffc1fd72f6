// Sizes and rates the way people read them.

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`
}

export function formatRate(bytes: number, elapsedMs: number): string {
  return `${formatBytes(bytes)} in ${(elapsedMs / 1000).toFixed(1)} s (${formatBytes((bytes / Math.max(elapsedMs, 1)) * 1000)}/s)`
}
