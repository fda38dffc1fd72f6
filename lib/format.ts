// Sizes and rates the way people read them. Three small functions, no dependency for them.

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

/** `120.0 MiB of 381.0 MiB (31%), 45.2 MiB/s, 6 s left`: how far a long step is and how long is left. */
export function formatProgress(done: number, total: number, elapsedMs: number, final = false): string {
  // An estimate that falls short (an archive's headers on top of an image's size) grows with the work.
  if (total > 0 && done > total) total = done
  const rate = elapsedMs > 0 ? `, ${formatBytes((done / elapsedMs) * 1000)}/s` : ''
  if (total <= 0) return `${formatBytes(done)}${rate}`
  // The total is known in advance but not always exactly (an image's size vs its archive): 99 % until done.
  const percent = final ? 100 : Math.min(99, Math.floor((done / total) * 100))
  const left = !final && elapsedMs > 0 && done > 0 ? `, ${formatDuration(Math.max(0, Math.ceil(((total - done) * elapsedMs) / done / 1000)))} left` : ''
  return `${formatBytes(done)} of ${formatBytes(total)} (${percent}%)${rate}${left}`
}

function formatDuration(seconds: number): string {
  return seconds < 60 ? `${seconds} s` : `${Math.floor(seconds / 60)} min ${seconds % 60} s`
}
