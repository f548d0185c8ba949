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

/** What the transport does after feeding one frame to a {@link Handshake}. */
export interface HandshakeStep {
  /** A frame to send to the peer. */
  send?: Record<string, unknown>;
  /** The peer is admitted (after `send`, if any). */
  admitted?: boolean;
  /** The peer is refused: log `reason`; tell the peer (a `reject` frame) when `notifyPeer`. */
  refused?: { reason: string; notifyPeer: boolean };
}

/** Construction options of {@link Handshake}. */
export interface HandshakeOptions {
  role: HandshakeRole;
  env: string;
  secret: string;
  localId: string;
  /** Client: the endpoint dialed, which the server must identify as. */
  expectedPeerId?: string;
  /** Validates a claimed peer id (server side). */
  isValidPeerId: (id: string) => boolean;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/**
 * One side of the handshake as a pure state machine: feed it the peer's frames,
 * it says what to send and whether the peer is admitted or refused.
 */
export class Handshake {
  readonly role: HandshakeRole;
  /** The peer's id: the dialed endpoint (client) or the id claimed in `hello` (server). */
  peerId: string | undefined;
  readonly #env: string;
  readonly #secret: string;
  readonly #localId: string;
  readonly #isValidPeerId: (id: string) => boolean;
  #expecting: "hello" | "challenge" | "proof" | "welcome" | "done";
  #clientNonce: Uint8Array | undefined;
  #serverNonce: Uint8Array | undefined;

  /** A client starts with {@link hello}; a server waits for it. */
  constructor(options: HandshakeOptions) {
    this.role = options.role;
    this.#env = options.env;
    this.#secret = options.secret;
    this.#localId = options.localId;
    this.#isValidPeerId = options.isValidPeerId;
    this.peerId = options.expectedPeerId;
    this.#expecting = options.role === "client" ? "challenge" : "hello";
  }

  /** Client: the opening frame. */
  hello(): Record<string, unknown> {
    this.#clientNonce = newNonce();
    return {
      t: "hello",
      v: HANDSHAKE_VERSION,
      env: this.#env,
      id: this.#localId,
      nonce: this.#clientNonce,
    };
  }

  #transcript(): HandshakeTranscript {
    const peer = this.peerId as string;
    return {
      env: this.#env,
      clientId: this.role === "client" ? this.#localId : peer,
      serverId: this.role === "client" ? peer : this.#localId,
      clientNonce: this.#clientNonce as Uint8Array,
      serverNonce: this.#serverNonce as Uint8Array,
    };
  }

  #refuse(reason: string, notifyPeer = true): HandshakeStep {
    this.#expecting = "done";
    return { refused: { reason, notifyPeer } };
  }

  /** Feeds one frame received from the peer. */
  step(frame: unknown): HandshakeStep {
    if (!isRecord(frame)) return this.#refuse("malformed handshake frame", false);
    if (frame.t === "reject") {
      const reason = typeof frame.reason === "string" ? frame.reason.slice(0, 200) : "?";
      return this.#refuse(`refused by peer: ${reason}`, false);
    }
    const envMismatch = () => `env mismatch: peer "${String(frame.env)}", ours "${this.#env}"`;
    const validNonce = (n: unknown): n is Uint8Array =>
      n instanceof Uint8Array && n.byteLength === NONCE_BYTES;
    switch (this.#expecting) {
      case "hello": {
        const { v, id, nonce } = frame;
        if (frame.t !== "hello" || v !== HANDSHAKE_VERSION) {
          return this.#refuse(`unexpected handshake frame or version ${String(v)}`);
        }
        if (typeof id !== "string" || !this.#isValidPeerId(id) || id === this.#localId) {
          return this.#refuse(`invalid peer id ${JSON.stringify(id)}`);
        }
        this.peerId = id;
        if (frame.env !== this.#env) return this.#refuse(envMismatch());
        if (!validNonce(nonce)) return this.#refuse("invalid nonce");
        this.#clientNonce = nonce;
        this.#serverNonce = newNonce();
        this.#expecting = "proof";
        return {
          send: {
            t: "challenge",
            env: this.#env,
            id: this.#localId,
            nonce: this.#serverNonce,
            proof: computeProof(this.#secret, "server", this.#transcript()),
          },
        };
      }
      case "challenge": {
        if (frame.t !== "challenge") return this.#refuse("expected challenge");
        if (frame.env !== this.#env) return this.#refuse(envMismatch());
        if (frame.id !== this.peerId) {
          return this.#refuse(`peer identifies as ${JSON.stringify(frame.id)}`);
        }
        if (!validNonce(frame.nonce)) return this.#refuse("invalid nonce");
        this.#serverNonce = frame.nonce;
        const transcript = this.#transcript();
        if (!verifyProof(this.#secret, "server", transcript, frame.proof)) {
          return this.#refuse("peer failed to prove the cluster secret");
        }
        this.#expecting = "welcome";
        return { send: { t: "proof", proof: computeProof(this.#secret, "client", transcript) } };
      }
      case "proof":
        if (frame.t !== "proof") return this.#refuse("expected proof");
        if (!verifyProof(this.#secret, "client", this.#transcript(), frame.proof)) {
          return this.#refuse("peer failed to prove the cluster secret");
        }
        this.#expecting = "done";
        return { send: { t: "welcome" }, admitted: true };
      case "welcome":
        if (frame.t !== "welcome") return this.#refuse("expected welcome");
        this.#expecting = "done";
        return { admitted: true };
      case "done":
        return this.#refuse("unexpected handshake frame", false);
    }
  }
}
