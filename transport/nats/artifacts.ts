/** Artifacts (energy checkpoints) in a JetStream object store. */
import type { NatsConnection } from "@nats-io/transport-node";
import { StorageType } from "@nats-io/jetstream";
import { type ObjectStore, Objm } from "@nats-io/obj";
import type { ArtifactStore } from "../types.ts";
import { natsNames } from "./names.ts";
import { retryTransient } from "./retry.ts";

/** ArtifactStore over a JetStream object store bucket (`<prefix>-artifacts`). */
export class NatsArtifactStore implements ArtifactStore {
  private constructor(private readonly os: ObjectStore, private readonly nc: NatsConnection) {}

  static async open(nc: NatsConnection, opts: { prefix?: string } = {}): Promise<NatsArtifactStore> {
    const names = natsNames(opts.prefix);
    const os = await new Objm(nc).create(names.artifactBucket, { storage: StorageType.File });
    return new NatsArtifactStore(os, nc);
  }

  async put(key: string, data: Uint8Array): Promise<void> {
    await retryTransient(this.nc, () => this.os.putBlob({ name: key }, data));
  }

  async get(key: string): Promise<Uint8Array | null> {
    const data = await retryTransient(this.nc, () => this.os.getBlob(key));
    return data === null ? null : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
}
