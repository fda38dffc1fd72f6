// What `docker inspect` (the Engine API's objects) says about containers and networks: only the
// fields the docker backend reads, checked when they arrive; the engine's JSON has many more.
import * as z from 'zod/mini'
import '../schema.ts'

const nullish = <T extends z.ZodMiniType>(schema: T) => z.nullish(schema)
const hostConfigSchema = z.looseObject({
  NetworkMode: z.optional(z.string()),
  RestartPolicy: nullish(z.looseObject({ Name: z.optional(z.string()), MaximumRetryCount: z.optional(z.number()) })),
  CapAdd: nullish(z.array(z.string())),
  CapDrop: nullish(z.array(z.string())),
  Dns: nullish(z.array(z.string())),
  DnsOptions: nullish(z.array(z.string())),
  DnsSearch: nullish(z.array(z.string())),
  ExtraHosts: nullish(z.array(z.string())),
  GroupAdd: nullish(z.array(z.string())),
  IpcMode: z.optional(z.string()),
  PidMode: z.optional(z.string()),
  UTSMode: z.optional(z.string()),
  UsernsMode: z.optional(z.string()),
  CgroupnsMode: z.optional(z.string()),
  Privileged: z.optional(z.boolean()),
  ReadonlyRootfs: z.optional(z.boolean()),
  SecurityOpt: nullish(z.array(z.string())),
  Tmpfs: nullish(z.record(z.string(), z.string())),
  ShmSize: z.optional(z.number()),
  Sysctls: nullish(z.record(z.string(), z.string())),
  Runtime: z.optional(z.string()),
  Memory: z.optional(z.number()),
  MemorySwap: z.optional(z.number()),
  MemoryReservation: z.optional(z.number()),
  NanoCpus: z.optional(z.number()),
  CpuShares: z.optional(z.number()),
  CpuQuota: z.optional(z.number()),
  CpuPeriod: z.optional(z.number()),
  CpusetCpus: z.optional(z.string()),
  PidsLimit: nullish(z.number()),
  OomKillDisable: nullish(z.boolean()),
  Ulimits: nullish(z.array(z.looseObject({ Name: z.string(), Soft: z.number(), Hard: z.number() }))),
  Devices: nullish(z.array(z.looseObject({ PathOnHost: z.string(), PathInContainer: z.string(), CgroupPermissions: z.string() }))),
  PortBindings: nullish(z.record(z.string(), nullish(z.array(z.looseObject({ HostIp: z.optional(z.string()), HostPort: z.optional(z.string()) }))))),
  Init: nullish(z.boolean()),
  /** What --mount asked for: a bind's propagation here is the user's, not the engine's choice. */
  Mounts: nullish(
    z.array(
      z.looseObject({
        Type: z.string(),
        Source: z.optional(z.string()),
        Target: z.string(),
        ReadOnly: z.optional(z.boolean()),
        BindOptions: nullish(z.looseObject({ Propagation: z.optional(z.string()) })),
        TmpfsOptions: nullish(z.looseObject({ SizeBytes: z.optional(z.number()), Mode: z.optional(z.number()) })),
      }),
    ),
  ),
  /** What -v asked for: `SRC:DST[:OPTIONS]`, a propagation among the options when one was given. */
  Binds: nullish(z.array(z.string())),
  CgroupParent: z.optional(z.string()),
  CpusetMems: z.optional(z.string()),
  OomScoreAdj: z.optional(z.number()),
  MemorySwappiness: nullish(z.number()),
  BlkioWeight: z.optional(z.number()),
  BlkioWeightDevice: nullish(z.array(z.looseObject({ Path: z.string(), Weight: z.number() }))),
  BlkioDeviceReadBps: nullish(z.array(z.looseObject({ Path: z.string(), Rate: z.number() }))),
  BlkioDeviceWriteBps: nullish(z.array(z.looseObject({ Path: z.string(), Rate: z.number() }))),
  BlkioDeviceReadIOps: nullish(z.array(z.looseObject({ Path: z.string(), Rate: z.number() }))),
  BlkioDeviceWriteIOps: nullish(z.array(z.looseObject({ Path: z.string(), Rate: z.number() }))),
  StorageOpt: nullish(z.record(z.string(), z.string())),
  MaskedPaths: nullish(z.array(z.string())),
  ReadonlyPaths: nullish(z.array(z.string())),
})

export const containerInspectSchema = z.looseObject({
  Id: z.string(),
  Name: z.string(),
  Image: z.string(),
  Created: z.optional(z.string()),
  Config: z.looseObject({
    Hostname: z.optional(z.string()),
    Domainname: z.optional(z.string()),
    User: z.optional(z.string()),
    WorkingDir: z.optional(z.string()),
    Env: nullish(z.array(z.string())),
    Cmd: nullish(z.array(z.string())),
    Entrypoint: nullish(z.array(z.string())),
    Labels: nullish(z.record(z.string(), z.string())),
    Tty: z.optional(z.boolean()),
    OpenStdin: z.optional(z.boolean()),
  }),
  HostConfig: hostConfigSchema,
  AppArmorProfile: z.optional(z.string()),
  ProcessLabel: z.optional(z.string()),
  Mounts: nullish(
    z.array(
      z.looseObject({
        Type: z.string(),
        Name: z.optional(z.string()),
        Source: z.optional(z.string()),
        Destination: z.string(),
        Driver: z.optional(z.string()),
        RW: z.optional(z.boolean()),
        Propagation: z.optional(z.string()),
      }),
    ),
  ),
  NetworkSettings: z.looseObject({
    Networks: nullish(
      z.record(
        z.string(),
        z.looseObject({
          Aliases: nullish(z.array(z.string())),
          IPAMConfig: nullish(z.looseObject({ IPv4Address: z.optional(z.string()), IPv6Address: z.optional(z.string()) })),
        }),
      ),
    ),
  }),
})
export type ContainerInspect = z.infer<typeof containerInspectSchema>

export const networkInspectSchema = z.looseObject({
  Name: z.string(),
  Driver: z.string(),
  Internal: z.optional(z.boolean()),
  Attachable: z.optional(z.boolean()),
  EnableIPv6: z.optional(z.boolean()),
  IPAM: nullish(z.looseObject({ Config: nullish(z.array(z.looseObject({ Subnet: z.optional(z.string()), Gateway: z.optional(z.string()), IPRange: z.optional(z.string()) }))) })),
  Options: nullish(z.record(z.string(), z.string())),
  Labels: nullish(z.record(z.string(), z.string())),
})
export type NetworkInspect = z.infer<typeof networkInspectSchema>

