/**
 * MQTT.js helpers for the end-to-end tests: connect over TCP or WebSocket, collect
 * received messages with bounded waits, and close cleanly.
 *
 * @module
 */

import mqtt from "mqtt";
import type { IClientOptions, IConnackPacket, IPublishPacket, MqttClient } from "mqtt";
import type { BrokerHandle } from "./broker.ts";
import { Waiters } from "./waiters.ts";

export type { IClientOptions, IConnackPacket, IPublishPacket, MqttClient };

/** Transport of an MQTT.js client. */
export type Transport = "tcp" | "ws" | "tls" | "wss";

/** Options of {@link connectClient}. */
export interface ConnectOptions extends IClientOptions {
  /** TCP (default), TLS, or (secure) WebSocket on path /mqtt. */
  transport?: Transport;
}

/** The URL of the broker's listener for a transport. */
export function brokerUrl(b: BrokerHandle, transport: Transport = "tcp"): string {
  const need = (port: number | undefined, what: string): number => {
    if (port === undefined) throw new Error(`broker has no ${what} listener`);
    return port;
  };
  if (transport === "ws") return `ws://127.0.0.1:${need(b.wsPort, "WebSocket")}/mqtt`;
  if (transport === "wss") return `wss://127.0.0.1:${need(b.wssPort, "WSS")}/mqtt`;
  if (transport === "tls") return `mqtts://127.0.0.1:${need(b.tlsPort, "TLS")}`;
  return `mqtt://127.0.0.1:${b.tcpPort}`;
}

let idCounter = 0;

const connacks = new WeakMap<MqttClient, IConnackPacket>();
const earlyInboxes = new WeakMap<MqttClient, Inbox>();

/**
 * The inbox attached by {@link connectClient} before CONNECT was sent: it holds
 * messages delivered right after CONNACK (a persistent session's queue).
 */
export function inboxOf(client: MqttClient): Inbox {
  const i = earlyInboxes.get(client);
  if (i === undefined) throw new Error("client was not connected with connectClient");
  return i;
}

/** The CONNACK a client got from {@link connectClient}. */
export function connackOf(client: MqttClient): IConnackPacket {
  const c = connacks.get(client);
  if (c === undefined) throw new Error("client was not connected with connectClient");
  return c;
}

/** A client id that is unique within this process run. */
export function uniqueId(prefix = "t"): string {
  idCounter++;
  return `${prefix}-${Date.now().toString(36)}-${idCounter}`;
}

/**
 * Connect an MQTT.js client (no automatic reconnect) and wait for CONNACK.
 * Rejects when the broker refuses the connection.
 */
export async function connectClient(
  b: BrokerHandle,
  opts: ConnectOptions = {},
): Promise<MqttClient> {
  const { transport, ...rest } = opts;
  const client = mqtt.connect(brokerUrl(b, transport), {
    reconnectPeriod: 0,
    connectTimeout: 5_000,
    keepalive: 30,
    clientId: rest.clientId ?? uniqueId("c"),
    ...rest,
  });
  earlyInboxes.set(client, new Inbox(client));
  try {
    await new Promise<void>((resolve, reject) => {
      const onConnect = (connack: IConnackPacket) => {
        connacks.set(client, connack);
        cleanup();
        resolve();
      };
      const onError = (e: Error) => {
        cleanup();
        reject(e);
      };
      const onClose = () => {
        cleanup();
        reject(new Error("connection closed before CONNACK"));
      };
      const cleanup = () => {
        client.off("connect", onConnect);
        client.off("error", onError);
        client.off("close", onClose);
      };
      client.on("connect", onConnect);
      client.on("error", onError);
      client.on("close", onClose);
    });
  } catch (e) {
    client.end(true);
    throw e;
  }
  // Swallow later errors (e.g. server DISCONNECT); tests observe events explicitly.
  client.on("error", () => {});
  return client;
}

/** Gracefully disconnect (sends DISCONNECT) with a bounded wait. */
export async function closeClient(client: MqttClient, timeoutMs = 3_000): Promise<void> {
  if (client.disconnected && !client.connected) {
    client.end(true);
    return;
  }
  await new Promise<void>((resolve) => {
    const t = setTimeout(() => {
      client.end(true);
      resolve();
    }, timeoutMs);
    client.end(false, {}, () => {
      clearTimeout(t);
      resolve();
    });
  });
}

/** Close the client's socket abruptly, without DISCONNECT (triggers the will). */
export function dropClient(client: MqttClient): void {
  client.stream.destroy();
  client.end(true);
}

/** One message received by a client. */
export interface Received {
  topic: string;
  payload: string;
  packet: IPublishPacket;
}

/** Collects every message a client receives, in order, for bounded waits. */
export class Inbox {
  readonly messages: Received[] = [];
  #cursor = 0;
  #waiters = new Waiters();
  readonly #listener = (topic: string, payload: Uint8Array, packet: IPublishPacket) => {
    this.messages.push({ topic, payload: new TextDecoder().decode(payload), packet });
    this.#waiters.wake();
  };

  constructor(readonly client: MqttClient) {
    client.on("message", this.#listener);
  }

  /** The next message not yet returned; throws after timeoutMs. */
  async next(timeoutMs = 3_000): Promise<Received> {
    await this.#waitFor(() => this.messages.length > this.#cursor, timeoutMs, "a message");
    return this.messages[this.#cursor++];
  }

  /** Wait until `count` messages in total have arrived; throws after timeoutMs. */
  async waitCount(count: number, timeoutMs = 5_000): Promise<Received[]> {
    await this.#waitFor(() => this.messages.length >= count, timeoutMs, `${count} messages`);
    return this.messages.slice(0, count);
  }

  /** Wait until some message (received at any time) satisfies pred; throws after timeoutMs. */
  async waitFor(pred: (m: Received) => boolean, timeoutMs = 3_000): Promise<Received> {
    await this.#waitFor(() => this.messages.some(pred), timeoutMs, "a matching message");
    return this.messages.find(pred)!;
  }

  /** Assert that nothing new arrives during ms. */
  async expectNone(ms = 500): Promise<void> {
    const before = this.messages.length;
    await new Promise((r) => setTimeout(r, ms));
    if (this.messages.length > before) {
      const m = this.messages[before];
      throw new Error(`unexpected message on ${m.topic}: ${m.payload}`);
    }
  }

  /** Stop listening. */
  detach(): void {
    this.client.off("message", this.#listener);
  }

  #waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
    return this.#waiters.waitFor(cond, timeoutMs, what, {
      detail: () => `(have ${this.messages.length})`,
    });
  }
}

/** Wait for a client event, bounded by timeoutMs; resolves with the event args. */
export function waitEvent<T extends unknown[] = unknown[]>(
  client: MqttClient,
  event: string,
  timeoutMs = 3_000,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const on = (...args: unknown[]) => {
      clearTimeout(t);
      resolve(args as T);
    };
    const t = setTimeout(() => {
      (client as unknown as { off(e: string, f: (...a: unknown[]) => void): void }).off(event, on);
      reject(new Error(`timed out after ${timeoutMs} ms waiting for client event ${event}`));
    }, timeoutMs);
    (client as unknown as { once(e: string, f: (...a: unknown[]) => void): void }).once(event, on);
  });
}

/**
 * Publish and return the v5 PUBACK/PUBREC reason code (0 on success). MQTT.js
 * rejects a publish whose acknowledgement carries an error reason; this returns it.
 */
export async function publishReason(
  client: MqttClient,
  topic: string,
  payload: string,
  opts: { qos: 1 | 2; retain?: boolean },
): Promise<number> {
  try {
    const p = await client.publishAsync(topic, payload, opts);
    const rc = (p as { reasonCode?: number } | undefined)?.reasonCode;
    return rc ?? 0;
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "number") return code;
    throw e;
  }
}

/**
 * Subscribe and return the granted QoS / reason code per filter. MQTT.js rejects a
 * SUBSCRIBE whose SUBACK holds a failure code; this returns the codes instead.
 */
export async function subscribeGranted(
  client: MqttClient,
  filters: string | string[],
  opts: { qos: 0 | 1 | 2 },
): Promise<number[]> {
  try {
    const g = await client.subscribeAsync(filters, opts);
    return g.map((x) => x.qos);
  } catch (e) {
    const packet = (e as { packet?: { granted?: unknown } }).packet;
    if (packet !== undefined && Array.isArray(packet.granted)) {
      return packet.granted.map((x) => (typeof x === "number" ? x : (x as { qos: number }).qos));
    }
    throw e;
  }
}
