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

/** Outcome of {@link Authenticator.authenticate}. `tenant` is "default" when none applies. */
export type AuthResult =
  | { ok: true; tenant: string; user: string | null }
  | { ok: false; reason: "bad-credentials" | "not-authorized" };

/** Decides whether a CONNECT may proceed, and in which tenant. */
export interface Authenticator {
  authenticate(req: AuthRequest): Promise<AuthResult>;
}

/** The tenant used when authentication does not name one. */
export const DEFAULT_TENANT = "default";
