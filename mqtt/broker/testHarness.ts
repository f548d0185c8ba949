/**
 * Test harness for the broker: in-memory stores, a fake transport
 * connection, and a scripted client that encodes with mqtt-packet (an
 * independent codec, so the tests also check our wire format).
 *
 * @module
 */
import * as mqttPacket from "mqtt-packet";
import { createMemoryLogger, type Logger, silentLogger } from "../../log/jsonLog.ts";
import { MemoryDistStore } from "../../stores/dist/memoryDistStore.ts";
import { MemoryInboxStore } from "../../stores/inbox/memoryInboxStore.ts";
import { MemoryRetainStore } from "../../stores/retain/memoryRetainStore.ts";
import { LocalSessionRegistry } from "../../stores/sessions/localSessionRegistry.ts";
import type { LocalStores } from "../../stores/mod.ts";
import type { Authenticator, AuthRequest, AuthResult } from "../auth/types.ts";
import type { ConnectionEvents, ListenerKind, MqttConnection } from "../transport/types.ts";
import type { MqttAcl } from "../session/context.ts";
import { createMqttBroker, type MqttBroker } from "./broker.ts";
import { defaultMqttBrokerOptions, type MqttBrokerOptions } from "./options.ts";

/** Accepts everyone except user "bad" (bad credentials) and "nobody" (not authorized). */
export const testAuthenticator: Authenticator = {
  authenticate(req: AuthRequest): Promise<AuthResult> {
    if (req.username === "bad") return Promise.resolve({ ok: false, reason: "bad-credentials" });
    if (req.username === "nobody") return Promise.resolve({ ok: false, reason: "not-authorized" });
    return Promise.resolve({ ok: true, tenant: "default", user: req.username });
  },
};

/** Denies topics/filters starting with "secret/" (publish, subscribe) and "hidden/" (deliver). */
export const testAcl: MqttAcl = {
  checkPublish: (_c, topic) => !topic.startsWith("secret/"),
  checkSubscribe: (_c, filter) => !filter.startsWith("secret/"),
  checkDeliver: (_c, topic) => !topic.startsWith("hidden/"),
};

/** A broker with the test authenticator and ACL over `stores` (node "n1", silent log). */
export function brokerOverStores(
  stores: Pick<LocalStores, "dist" | "inbox" | "retain" | "sessions">,
): MqttBroker {
  return createMqttBroker(defaultMqttBrokerOptions(), {
    nodeId: "n1",
    dist: stores.dist,
    inbox: stores.inbox,
    retain: stores.retain,
    sessions: stores.sessions,
    authenticator: testAuthenticator,
    acl: testAcl,
    log: silentLogger,
  });
}

let nextConnectionId = 1;

/** A transport connection in memory; the broker's writes are parsed with mqtt-packet. */
export class FakeConnection implements MqttConnection {
  readonly id = nextConnectionId++;
  readonly listener: ListenerKind = "tcp";
  readonly remoteAddress = "127.0.0.1";
  readonly remotePort = 40000;
  readonly clientCertificate = null;
  bufferedBytes = 0;
  /** write() returns false while true (simulated congestion). */
  congested = false;
  connected = false;
  paused = false;
  ended = false;
  destroyed = false;
  maxInboundPacketBytes = Infinity;
  readonly written: Uint8Array[] = [];
  readonly packets: mqttPacket.Packet[] = [];
  events: ConnectionEvents | null = null;
  private parser: mqttPacket.Parser;
  private closeScheduled = false;

  constructor(protocolVersion: number) {
    this.parser = mqttPacket.parser({ protocolVersion });
    this.parser.on("packet", (p: mqttPacket.Packet) => this.packets.push(p));
    this.parser.on("error", (e: Error) => {
      throw new Error(`broker wrote a packet mqtt-packet cannot parse: ${e.message}`);
    });
  }

  write(packet: Uint8Array): boolean {
    if (this.ended || this.destroyed) return false;
    this.written.push(packet);
    this.parser.parse(Buffer.from(packet));
    return !this.congested;
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
  markConnected(): void {
    this.connected = true;
  }
  setMaxInboundPacketBytes(bytes: number): void {
    this.maxInboundPacketBytes = Math.min(this.maxInboundPacketBytes, bytes);
  }
  end(): void {
    this.ended = true;
    this.scheduleClose();
  }
  destroy(): void {
    this.destroyed = true;
    this.scheduleClose();
  }
  /** The client side closes the socket. */
  clientClose(): void {
    this.ended = true;
    this.scheduleClose();
  }
  private scheduleClose(): void {
    if (this.closeScheduled) return;
    this.closeScheduled = true;
    queueMicrotask(() => this.events?.onClose());
  }
}

/** Waits until macrotasks ran (store promises, broker steps). */
export function settle(turns = 3): Promise<void> {
  let p = Promise.resolve();
  for (let i = 0; i < turns; i++) p = p.then(() => new Promise((r) => setTimeout(r, 0)));
  return p;
}

/** What a {@link TestClient} needs: a connection handler and packet ids. */
export interface ClientHost {
  readonly broker: Pick<MqttBroker, "handler">;
  nextId(): number;
}

/** A scripted client over a {@link FakeConnection}. */
export class TestClient {
  readonly conn: FakeConnection;
  private cursor = 0;

  constructor(readonly harness: ClientHost, readonly protocolVersion: 3 | 4 | 5) {
    this.conn = new FakeConnection(protocolVersion);
    this.conn.events = harness.broker.handler(this.conn);
  }

  /** Sends raw bytes as one packet. */
  sendRaw(bytes: Uint8Array): void {
    this.conn.events!.onPacket(bytes);
  }

  /** Encodes with mqtt-packet and sends. */
  send(packet: mqttPacket.Packet): void {
    const buf = mqttPacket.generate(packet, { protocolVersion: this.protocolVersion });
    this.sendRaw(new Uint8Array(buf.buffer, buf.byteOffset, buf.length));
  }

  /** All packets received so far. */
  get packets(): mqttPacket.Packet[] {
    return this.conn.packets;
  }

  /** Waits for the next packet (optionally of a type) not yet returned by next(). */
  async next<C extends mqttPacket.PacketCmd>(
    cmd?: C,
    timeoutMs = 1000,
  ): Promise<Extract<mqttPacket.Packet, { cmd: C }>> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      while (this.cursor < this.conn.packets.length) {
        const p = this.conn.packets[this.cursor++];
        if (cmd === undefined || p.cmd === cmd) return p as Extract<mqttPacket.Packet, { cmd: C }>;
      }
      if (Date.now() > deadline) {
        throw new Error(
          `no ${cmd ?? "packet"} within ${timeoutMs} ms; got ${
            this.conn.packets.map((p) => p.cmd).join(",")
          }`,
        );
      }
      await new Promise((r) => setTimeout(r, 1));
    }
  }

  /** Packets of `cmd` received after settling, from the cursor, without waiting further. */
  async drain(cmd?: mqttPacket.PacketCmd): Promise<mqttPacket.Packet[]> {
    await settle();
    const out: mqttPacket.Packet[] = [];
    while (this.cursor < this.conn.packets.length) {
      const p = this.conn.packets[this.cursor++];
      if (cmd === undefined || p.cmd === cmd) out.push(p);
    }
    return out;
  }

  /** Sends CONNECT and returns the CONNACK. */
  async connect(
    clientId: string,
    opts: Partial<mqttPacket.IConnectPacket> = {},
  ): Promise<mqttPacket.IConnackPacket> {
    this.send({
      cmd: "connect",
      protocolId: this.protocolVersion === 3 ? "MQIsdp" : "MQTT",
      protocolVersion: this.protocolVersion,
      clean: true,
      clientId,
      keepalive: 60,
      ...opts,
    });
    return await this.next("connack");
  }

  /** SUBSCRIBE and wait for SUBACK. */
  async subscribe(
    filter: string | mqttPacket.ISubscription[],
    qos: 0 | 1 | 2 = 0,
    properties?: mqttPacket.ISubscribePacket["properties"],
  ): Promise<mqttPacket.ISubackPacket> {
    const subscriptions = typeof filter === "string" ? [{ topic: filter, qos }] : filter;
    this.send({ cmd: "subscribe", messageId: this.harness.nextId(), subscriptions, properties });
    return await this.next("suback");
  }

  /** PUBLISH (no wait). */
  publish(
    topic: string,
    payload: string | Uint8Array,
    opts: Partial<mqttPacket.IPublishPacket> = {},
  ): number {
    const qos = opts.qos ?? 0;
    const messageId = qos > 0 ? opts.messageId ?? this.harness.nextId() : undefined;
    this.send({
      cmd: "publish",
      topic,
      payload: typeof payload === "string" ? payload : Buffer.from(payload),
      qos,
      dup: false,
      retain: false,
      ...opts,
      messageId,
    });
    return messageId ?? 0;
  }

  /** DISCONNECT. */
  disconnect(reasonCode?: number, properties?: mqttPacket.IDisconnectPacket["properties"]): void {
    this.send({ cmd: "disconnect", reasonCode, properties });
  }
}

/** A broker with in-memory stores and helpers to create clients. */
export class Harness {
  readonly dist = new MemoryDistStore();
  readonly inbox = new MemoryInboxStore({
    maxQueuedMessages: 100,
    overflowPolicy: "drop-oldest",
    maxSubscriptions: 100,
    maxIncomingQos2: 100,
  });
  readonly retain = new MemoryRetainStore({ maxRetainedPerTenant: 1000 });
  readonly sessions = new LocalSessionRegistry();
  readonly log: Logger & { lines: Record<string, unknown>[] } = createMemoryLogger();
  broker: MqttBroker;
  nowMs = 1_000_000;
  private id = 1;

  constructor(readonly options: MqttBrokerOptions = defaultMqttBrokerOptions()) {
    this.broker = this.createBroker();
  }

  /** A broker over this harness's stores (also used to simulate a restart). */
  createBroker(): MqttBroker {
    return createMqttBroker(this.options, {
      nodeId: "n1",
      dist: this.dist,
      inbox: this.inbox,
      retain: this.retain,
      sessions: this.sessions,
      authenticator: testAuthenticator,
      acl: testAcl,
      log: this.log,
      nowMs: () => this.nowMs,
    });
  }

  /** A new packet id for clients. */
  nextId(): number {
    this.id = this.id === 65535 ? 1 : this.id + 1;
    return this.id;
  }

  /** A new client (not yet connected). */
  client(version: 3 | 4 | 5 = 4): TestClient {
    return new TestClient(this, version);
  }

  /** A connected client. */
  async connected(
    clientId: string,
    version: 3 | 4 | 5 = 4,
    opts: Partial<mqttPacket.IConnectPacket> = {},
  ): Promise<TestClient> {
    const c = this.client(version);
    const ack = await c.connect(clientId, opts);
    const code = version === 5 ? ack.reasonCode : ack.returnCode;
    if (code !== 0) throw new Error(`CONNECT ${clientId} refused with ${code}`);
    return c;
  }

  async close(): Promise<void> {
    await this.broker.close();
    await settle();
  }
}

/** Text of a received payload. */
export function text(p: mqttPacket.Packet): string {
  if (p.cmd !== "publish") throw new Error(`expected publish, got ${p.cmd}`);
  return typeof p.payload === "string" ? p.payload : new TextDecoder().decode(p.payload);
}

/** A hand-built CONNECT (for what mqtt-packet refuses to generate). v5 gets an empty property block. */
export function rawConnect(opts: {
  name?: string;
  level?: number;
  flags?: number;
  keepAlive?: number;
  clientId?: string;
  /** Bytes after the client id (will, user name, password). */
  tail?: number[];
  /** v5 CONNECT properties (encoded, without length). */
  properties?: number[];
}): Uint8Array {
  const enc = new TextEncoder();
  const name = enc.encode(opts.name ?? "MQTT");
  const level = opts.level ?? 4;
  const id = enc.encode(opts.clientId ?? "c");
  const body: number[] = [name.length >> 8, name.length & 0xff, ...name, level, opts.flags ?? 0x02];
  const ka = opts.keepAlive ?? 60;
  body.push(ka >> 8, ka & 0xff);
  if (level === 5) {
    const p = opts.properties ?? [];
    body.push(p.length, ...p);
  }
  body.push(id.length >> 8, id.length & 0xff, ...id, ...(opts.tail ?? []));
  return framePacket(0x10, body);
}

/** Fixed header + body. */
export function framePacket(firstByte: number, body: number[]): Uint8Array {
  const len: number[] = [];
  let n = body.length;
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    len.push(b);
  } while (n > 0);
  return new Uint8Array([firstByte, ...len, ...body]);
}
