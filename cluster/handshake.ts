/**
 * Mutual HMAC challenge–response between two cluster nodes. The secret never
 * travels: each side sends a fresh nonce, the server proves first, the client
 * second, each over both nonces, both ids and the env with a distinct role label
 * (so a proof cannot be reflected back).
 *
 * ```
 * client → server  hello     { env, id: clientId, nonce: nC }
 * server → client  challenge { env, id: serverId, nonce: nS, proof: H("server", ...) }
 * client → server  proof     { proof: H("client", ...) }
 * server → client  welcome
 * ```
 * where `H(role, ...) = HMAC-SHA256(secret, role | env | clientId | serverId | nC | nS)`.
 * Either side may answer `reject { reason }` and close.
 *
 * @module
 */

import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/** Protocol version carried in `hello`. */
export const HANDSHAKE_VERSION = 1;
/** Bytes of each nonce. */
export const NONCE_BYTES = 32;
/** Largest frame accepted before a peer is admitted. */
export const HANDSHAKE_MAX_FRAME_BYTES = 1024;

/** Which side computes the proof. */
export type HandshakeRole = "server" | "client";

/** The transcript both proofs cover. */
export interface HandshakeTranscript {
  env: string;
  clientId: string;
  serverId: string;
  clientNonce: Uint8Array;
  serverNonce: Uint8Array;
}

/** A fresh random nonce. */
export function newNonce(): Uint8Array {
  return new Uint8Array(randomBytes(NONCE_BYTES));
}

/** HMAC-SHA256 proof of knowledge of `secret` for `role` over the transcript. */
export function computeProof(
  secret: string,
  role: HandshakeRole,
  t: HandshakeTranscript,
): Uint8Array {
  const mac = createHmac("sha256", secret);
  const enc = new TextEncoder();
  for (const part of [role, t.env, t.clientId, t.serverId]) {
    const bytes = enc.encode(part);
    const len = new Uint8Array(4);
    new DataView(len.buffer).setUint32(0, bytes.byteLength);
    mac.update(len);
    mac.update(bytes);
  }
  mac.update(t.clientNonce);
  mac.update(t.serverNonce);
  return new Uint8Array(mac.digest());
}

/** Constant-time check of a received proof. */
export function verifyProof(
  secret: string,
  role: HandshakeRole,
  t: HandshakeTranscript,
  proof: unknown,
): boolean {
  if (!(proof instanceof Uint8Array)) return false;
  const expected = computeProof(secret, role, t);
  return proof.byteLength === expected.byteLength && timingSafeEqual(proof, expected);
}
