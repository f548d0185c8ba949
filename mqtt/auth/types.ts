/**
 * The authentication contract used by protocol sessions.
 *
 * @module
 */

import type { ClientCertificateInfo, ListenerKind } from "../transport/types.ts";

/** What a CONNECT presents for authentication. */
export interface AuthRequest {
  username: string | null;
  password: Uint8Array | null;
  clientId: string;
  listener: ListenerKind;
  remoteAddress: string;
  clientCertificate: ClientCertificateInfo | null;
}

/**
 * Outcome of {@link Authenticator.authenticate}. `tenant` is "default" when
 * none applies; `user` is the user name within the tenant (null when
 * anonymous). Failure reasons map to MQTT 5 CONNACK codes:
 * "bad-credentials" → 0x86 (3.1.1: 4), "not-authorized" → 0x87 (3.1.1: 5),
 * "server-busy" → 0x89 (3.1.1: 3, server unavailable; too many
 * verifications in flight, the client should retry later).
 */
export type AuthResult =
  | { ok: true; tenant: string; user: string | null }
  | { ok: false; reason: AuthFailureReason };

/** Why authentication failed. */
export type AuthFailureReason = "bad-credentials" | "not-authorized" | "server-busy";

/** Decides whether a CONNECT may proceed, and in which tenant. */
export interface Authenticator {
  authenticate(req: AuthRequest): Promise<AuthResult>;
}

/** The tenant used when authentication does not name one. */
export const DEFAULT_TENANT = "default";
