// The schemas that guard what comes from outside — bundle manifests, metadata.json, run
// configurations — against a model of each written field by field (schema-contracts.ts). Every
// good value is accepted and comes back the same through JSON; every value that is bad at one
// field is refused, with the issue at that field. Loosening any one check in those schemas makes
// one of these fail.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { manifestSchema } from '../../lib/bundle.ts'
import { UsageError } from '../../lib/errors.ts'
import { RUN_CONFIG_FORMAT, RUN_CONFIG_VERSION, parseRunConfig, parseSmolRun, runConfigSchema } from '../../lib/run-config.ts'
import { metadataSchema, parseMetadata } from '../../lib/state.ts'
import { dockerRun, manifestModel, metadataModel, runConfigModel, smolRun } from './schema-contracts.ts'
import { refusesBad, roundTrips, type Model, type Schema } from './schema-model.ts'

const cases: Array<[string, Schema, Model]> = [
  ['metadata.json (metadataSchema)', metadataSchema as Schema, metadataModel],
  ['run configurations (runConfigSchema)', runConfigSchema as Schema, runConfigModel],
  ['bundle manifests (manifestSchema)', manifestSchema as Schema, manifestModel],
]

describe.each(cases)('%s', (_name, schema, model) => {
  it('accept every good value, and give it back the same through JSON', () => {
    roundTrips(schema, model, 150)
  })

  it.each(model.bad.map((bad) => [bad.label, bad] as const))('refuse a value that is bad at one field: %s', (_label, bad) => {
    refusesBad(schema, bad, 4)
  })
})

describe('the readers use these schemas', () => {
  it('parseMetadata and parseRunConfig refuse a bad field as bad input naming where it was', () => {
    expect(() => parseMetadata(JSON.stringify({ identity: 'x', agent_name: 'x', backend: 'vmware' }), 'label bot-bottle.metadata')).toThrow(UsageError)
    expect(() => parseMetadata(JSON.stringify({ identity: 'x', agent_name: 'x', backend: 'vmware' }), 'label bot-bottle.metadata')).toThrow(/^label bot-bottle\.metadata is invalid: backend:/)
    const config = { format: RUN_CONFIG_FORMAT, version: RUN_CONFIG_VERSION, recordedAt: 'now', run: fc.sample(dockerRun.good, { numRuns: 1, seed: 1 })[0] as object }
    expect(parseRunConfig(JSON.stringify(config), 'run-config.json')).toEqual(config)
    expect(() => parseRunConfig(JSON.stringify({ ...config, run: { ...config.run, tty: 'yes' } }), 'run-config.json')).toThrow(/^run-config\.json is invalid: run\.tty:/)
    expect(() => parseRunConfig(JSON.stringify({ ...config, version: 3 }), 'run-config.json')).toThrow('run configuration version 3 is not supported')
  })

  it('parseSmolRun (the run a smolvm machine label carries) takes a good run and refuses a bad field as bad input naming where', () => {
    const where = 'label bot-bottle.run of VM bot-bottle-x'
    for (const run of fc.sample(smolRun.good, { numRuns: 20, seed: 2 }) as object[]) expect(parseSmolRun(JSON.stringify(run), where)).toEqual(run)
    for (const bad of smolRun.bad) {
      const [value] = fc.sample(bad.value, { numRuns: 1, seed: 3 })
      expect(() => parseSmolRun(JSON.stringify(value), where), bad.label).toThrow(UsageError)
    }
    expect(() => parseSmolRun('{not json', where)).toThrow(/^label bot-bottle\.run of VM bot-bottle-x is not valid JSON/)
  })
})
