/**
 * Clients a test opens against one broker, tracked so a single `finally`
 * can close every one of them.
 *
 * @module
 */
import type { BrokerHandle } from "./broker.ts";
import { connectClient, type ConnectOptions, type MqttClient } from "./clients.ts";
import { RawClient } from "./raw.ts";

/** Options of {@link RawClient.connect}. */
export type RawConnectOptions = Parameters<typeof RawClient.connect>[1];

/** Opens MQTT.js and raw clients on a broker and remembers them for closeAll(). */
export class TrackedClients {
  /** Every MQTT.js client opened (tests may push their own). */
  readonly open: MqttClient[] = [];
  /** Every raw client opened (tests may push their own). */
  readonly raws: RawClient[] = [];

  constructor(readonly broker: BrokerHandle) {}

  /** connectClient(broker, opts), tracked. */
  async client(opts: ConnectOptions = {}): Promise<MqttClient> {
    const c = await connectClient(this.broker, opts);
    this.open.push(c);
    return c;
  }

  /** RawClient.connect on the broker's TCP port, tracked. */
  async raw(opts: RawConnectOptions): ReturnType<typeof RawClient.connect> {
    const r = await RawClient.connect(this.broker.tcpPort, opts);
    this.raws.push(r.client);
    return r;
  }

  /** Force-close every tracked client. */
  closeAll(): void {
    for (const c of this.open) c.end(true);
    for (const r of this.raws) r.close();
  }
}
