// The value of docker's `--mount` flag is one CSV record: docker/cli (opts/mount.go) reads it with
// Go's encoding/csv and then splits each field at its first "=". A host path with a comma would
// otherwise end its field early, and the rest would be read as more options of the mount
// (`src=/tmp/a,dst=/etc` names another source and target), a quote would make the record unreadable.
import { OperationError } from '../errors.ts'

/** The `--mount` value of these fields (`key=value`, or a bare `readonly`), each quoted where the CSV reader needs it. */
export function mountValue(fields: string[]): string {
  return fields.map(csvField).join(',')
}

/**
 * One field as Go's csv.Reader reads it back: as it is when it holds no comma, quote or line break;
 * else in quotes with inner quotes doubled (a quoted field may span lines).
 */
export function csvField(field: string): string {
  // The reader turns every \r\n into \n, quoted or not; an argument cannot hold a NUL.
  if (field.includes('\r\n') || field.includes('\0')) {
    throw new OperationError(`cannot pass ${JSON.stringify(field)} to docker --mount: its comma-separated syntax cannot hold ${field.includes('\0') ? 'a NUL byte' : 'a carriage return before a line feed'}`)
  }
  if (!/[",\r\n]/.test(field)) return field
  return `"${field.replaceAll('"', '""')}"`
}
