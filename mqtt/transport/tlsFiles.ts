/**
 * TLS material for the tls and wss listeners, and what a client certificate
 * tells the session.
 *
 * Deno's node:tls (rustls underneath) verifies client certificates only when
 * they are X.509 v3 with proper extensions (basicConstraints, keyUsage);
 * v1 certificates are reported as not authorized.
 *
 * @module
 */

import type { TLSSocket } from "node:tls";
import type { ClientCertificateInfo, ListenerConfig } from "./types.ts";

/** Server options shared by node:tls and node:https. */
export interface ServerTlsOptions {
  cert: string;
  key: string;
  ca?: string;
  requestCert: boolean;
  rejectUnauthorized: boolean;
}

/**
 * Reads certFile / keyFile / caFile. Client certificates are requested when a
 * caFile is configured; required (unauthorized clients refused in the
 * handshake) when `requireClientCert` is true.
 */
export async function loadServerTlsOptions(config: ListenerConfig): Promise<ServerTlsOptions> {
  if (!config.certFile || !config.keyFile) {
    throw new Error(
      `TLS listener on ${config.host}:${config.port} needs certFile and keyFile ` +
        `(got certFile=${config.certFile ?? "unset"}, keyFile=${config.keyFile ?? "unset"})`,
    );
  }
  if (config.requireClientCert && !config.caFile) {
    throw new Error(
      `TLS listener on ${config.host}:${config.port}: requireClientCert needs caFile ` +
        `to verify client certificates`,
    );
  }
  const [cert, key, ca] = await Promise.all([
    readPem(config.certFile, "certFile"),
    readPem(config.keyFile, "keyFile"),
    config.caFile ? readPem(config.caFile, "caFile") : Promise.resolve(undefined),
  ]);
  return {
    cert,
    key,
    ...(ca !== undefined ? { ca } : {}),
    requestCert: ca !== undefined,
    rejectUnauthorized: config.requireClientCert === true,
  };
}

async function readPem(path: string, field: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`cannot read ${field} ${path}: ${reason}`);
  }
}

/** The peer certificate of a TLS socket, or null when the client sent none. */
export function clientCertificateOf(socket: TLSSocket): ClientCertificateInfo | null {
  const cert: unknown = socket.getPeerCertificate();
  if (!isRecord(cert) || typeof cert.fingerprint256 !== "string") return null;
  const subject = attributes(cert.subject);
  const issuer = attributes(cert.issuer);
  return {
    subjectCN: subject.CN ?? null,
    subject,
    issuerCN: issuer.CN ?? null,
    fingerprint256: cert.fingerprint256,
    authorized: socket.authorized === true,
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

function attributes(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isRecord(value)) return out;
  for (const [k, v] of Object.entries(value)) {
    if (typeof v === "string") out[k] = v;
    else if (Array.isArray(v)) out[k] = v.filter((x) => typeof x === "string").join(",");
  }
  return out;
}
