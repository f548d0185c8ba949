/**
 * Encoding of ConfChange entries (msgpack) with validation on decode, since
 * entry data comes from peers.
 *
 * @module
 */

import { decode, encode } from "@msgpack/msgpack";
import { ConfChangeError } from "./errors.ts";
import {
  type ConfChange,
  type ConfChangeSingle,
  type ConfChangeTransition,
  ConfChangeType,
} from "./types.ts";

const TRANSITIONS: readonly string[] = ["auto", "implicit", "explicit"];
const TYPES: readonly string[] = Object.values(ConfChangeType);

/** Encodes a ConfChange as entry data. */
export function encodeConfChange(cc: ConfChange): Uint8Array {
  return encode({
    transition: cc.transition,
    changes: cc.changes.map((c) => ({ type: c.type, replicaId: c.replicaId })),
    forceVoters: cc.forceVoters ?? null,
    context: cc.context ?? null,
  });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Decodes entry data of a ConfChange entry; empty data is "leave joint". */
export function decodeConfChange(data: Uint8Array): ConfChange {
  if (data.byteLength === 0) return { transition: "auto", changes: [] };
  const v: unknown = decode(data);
  if (!isRecord(v)) throw new ConfChangeError("conf change: not a map");
  const transition = v.transition;
  if (typeof transition !== "string" || !TRANSITIONS.includes(transition)) {
    throw new ConfChangeError(`conf change: bad transition ${String(transition)}`);
  }
  if (!Array.isArray(v.changes)) throw new ConfChangeError("conf change: changes not a list");
  const changes: ConfChangeSingle[] = [];
  for (const c of v.changes) {
    if (
      !isRecord(c) || typeof c.type !== "string" || !TYPES.includes(c.type) ||
      typeof c.replicaId !== "string"
    ) {
      throw new ConfChangeError("conf change: bad change");
    }
    changes.push({ type: c.type as ConfChangeType, replicaId: c.replicaId });
  }
  let forceVoters: string[] | undefined;
  if (v.forceVoters !== null && v.forceVoters !== undefined) {
    if (!Array.isArray(v.forceVoters) || !v.forceVoters.every((x) => typeof x === "string")) {
      throw new ConfChangeError("conf change: bad forceVoters");
    }
    forceVoters = v.forceVoters as string[];
  }
  const context = v.context instanceof Uint8Array ? v.context : undefined;
  return {
    transition: transition as ConfChangeTransition,
    changes,
    ...(forceVoters !== undefined ? { forceVoters } : {}),
    ...(context !== undefined ? { context } : {}),
  };
}
