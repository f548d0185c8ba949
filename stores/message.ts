/**
 * The application message as the stores keep it: what a PUBLISH carried,
 * independent of protocol version and of any one subscriber.
 *
 * @module
 */

/** MQTT quality of service. */
export type QoS = 0 | 1 | 2;

/** The default tenant when authentication does not name one. */
export const DEFAULT_TENANT = "default";

/** MQTT 5 properties that travel with a message to its subscribers. */
export interface MessageProperties {
  readonly payloadFormatIndicator?: boolean;
  readonly contentType?: string;
  readonly responseTopic?: string;
  readonly correlationData?: Uint8Array;
  /** In the order the publisher sent them (duplicates allowed). */
  readonly userProperties?: readonly (readonly [string, string])[];
}

/** A published message. Immutable once built; shared between subscribers. */
export interface StoredMessage {
  readonly tenant: string;
  readonly topic: string;
  readonly payload: Uint8Array;
  /** QoS the publisher used. */
  readonly qos: QoS;
  /** RETAIN flag as published. */
  readonly retain: boolean;
  /** Client id of the publisher (no-local). */
  readonly publisherClientId: string;
  /** When the broker received it (ms since epoch). */
  readonly receivedAtMs: number;
  /** Absolute expiry (ms since epoch) from the v5 message expiry interval, or null. */
  readonly expiresAtMs: number | null;
  readonly properties: MessageProperties;
}

/** Identifies a client session in the whole cluster. */
export interface ClientKey {
  readonly tenant: string;
  readonly clientId: string;
}

/** Options of one subscription, as granted. */
export interface SubscriptionOptions {
  /** Granted maximum QoS. */
  readonly qos: QoS;
  readonly noLocal: boolean;
  readonly retainAsPublished: boolean;
  /** 0 = send retained on subscribe, 1 = only if new subscription, 2 = never. */
  readonly retainHandling: 0 | 1 | 2;
  /** v5 subscription identifier, or null. */
  readonly subscriptionId: number | null;
}
