// Image settings as Dockerfile instructions: what a snapshot built FROM scratch, an imported
// (flattened) image, or a committed image must carry over from the image it replaces.

export interface ImageConfig {
  Env?: string[] | null
  Cmd?: string[] | null
  Entrypoint?: string[] | null
  WorkingDir?: string
  User?: string
  Labels?: Record<string, string> | null
  ExposedPorts?: Record<string, unknown> | null
}

/** A Dockerfile double-quoted string: \\, " and $ escaped (LABEL and ENV values expand variables). */
function quoted(value: string): string {
  return `"${value.replace(/[\\"$]/g, (char) => `\\${char}`).replace(/\n/g, ' ')}"`
}

/** A Dockerfile-syntax LABEL instruction for `docker commit --change`, safe for any value. */
export function labelChange(key: string, value: string): string {
  return `LABEL ${key}=${quoted(value)}`
}

/** The `--change` instructions that give an imported image the config of another. */
export function configChanges(config: ImageConfig): string[] {
  const changes: string[] = []
  for (const entry of config.Env ?? []) {
    const [key, ...value] = entry.split('=')
    changes.push(`ENV ${key}=${quoted(value.join('='))}`)
  }
  if (config.Entrypoint?.length) changes.push(`ENTRYPOINT ${JSON.stringify(config.Entrypoint)}`)
  if (config.Cmd?.length) changes.push(`CMD ${JSON.stringify(config.Cmd)}`)
  if (config.WorkingDir) changes.push(`WORKDIR ${config.WorkingDir}`)
  if (config.User) changes.push(`USER ${config.User}`)
  for (const port of Object.keys(config.ExposedPorts ?? {})) changes.push(`EXPOSE ${port}`)
  for (const [key, value] of Object.entries(config.Labels ?? {})) changes.push(labelChange(key, value))
  return changes
}

/** A Dockerfile that rebuilds a root filesystem archive as an image with `config`. */
export function scratchDockerfile(archive: string, config: ImageConfig): string {
  return ['FROM scratch', `ADD ${archive} /`, ...configChanges(config), ''].join('\n')
}

/**
 * What `docker commit` would take from a container's config that its image does not have (its
 * environment, command, user, working dir), as Dockerfile instructions; `blank` names variables
 * whose values stay out (credentials: the caller blanks them).
 */
export function configDifferences(container: ImageConfig, image: ImageConfig, blank: string[]): string[] {
  const changes: string[] = []
  const imageEnv = new Set(image.Env ?? [])
  for (const entry of container.Env ?? []) {
    const [key = '', ...value] = entry.split('=')
    if (!imageEnv.has(entry) && !blank.includes(key)) changes.push(`ENV ${key}=${quoted(value.join('='))}`)
  }
  const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null)
  if (container.Entrypoint?.length && !same(container.Entrypoint, image.Entrypoint)) changes.push(`ENTRYPOINT ${JSON.stringify(container.Entrypoint)}`)
  if (container.Cmd?.length && !same(container.Cmd, image.Cmd)) changes.push(`CMD ${JSON.stringify(container.Cmd)}`)
  if (container.WorkingDir && container.WorkingDir !== image.WorkingDir) changes.push(`WORKDIR ${container.WorkingDir}`)
  if (container.User && container.User !== image.User) changes.push(`USER ${container.User}`)
  return changes
}
