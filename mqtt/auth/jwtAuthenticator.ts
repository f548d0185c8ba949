/**
 * JWT authentication: the client sends a JSON Web Token (compact JWS) as its
 * MQTT password. Verified with WebCrypto; no network access (no JWKS fetch).
 *
 * - Keys: an HMAC secret (HS256/384/512) and/or one PEM public key (SPKI):
 *   RSA → RS256/384/512 and PS256/384/512, EC P-256/P-384/P-521 → ES256/384/512,
 *   Ed25519 → EdDSA. A token is accepted only with an algorithm its key type
 *   allows, so `alg: none` and HMAC-with-the-public-key confusion are refused.
 * - Claims: `exp` required (unless `requireExpiry: false`), `nbf` honoured,
 *   both with `clockSkewSeconds` (30) leeway; `iss` / `aud` checked when
 *   configured. The user is `sub` (else the MQTT user name), the tenant the
 *   string claim `tenantClaim` ("tenant"), else "default". With
 *   `usernameMustMatchSubject`, a user name different from `sub` is refused.
 * - Tokens over `maxTokenBytes` (8 KiB) are refused before parsing.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import type { Authenticator, AuthRequest, AuthResult } from "./types.ts";
import { DEFAULT_TENANT } from "./types.ts";

/** Options of {@link createJwtAuthenticator}. At least one key is required. */
export interface JwtAuthenticatorOptions {
  /** Shared secret for HS256/384/512 (UTF-8 string or bytes); at least 32 bytes. */
  hmacSecret?: string | Uint8Array;
  /** PEM public key ("-----BEGIN PUBLIC KEY-----", SPKI) for RS*, PS*, ES*, EdDSA. */
  publicKeyPem?: string;
  /** Required `iss`. */
  issuer?: string;
  /** Required `aud` (the token's `aud` may be a string or a list containing it). */
  audience?: string;
  /** Claim naming the tenant. Default "tenant". */
  tenantClaim?: string;
  /** Leeway for exp / nbf. Default 30. */
  clockSkewSeconds?: number;
  /** Refuse tokens without `exp`. Default true. */
  requireExpiry?: boolean;
  /** Refuse a CONNECT whose user name is set and differs from `sub`. Default false. */
  usernameMustMatchSubject?: boolean;
  /** Largest token accepted. Default 8192. */
  maxTokenBytes?: number;
  nowMs?: () => number;
}

type HashName = "SHA-256" | "SHA-384" | "SHA-512";

interface AlgSpec {
  family: "hmac" | "rsa" | "pss" | "ec" | "ed";
  hash: HashName;
  /** Byte length of the PSS salt / ECDSA curve. */
  extra?: number | string;
}

const ALGORITHMS: Record<string, AlgSpec> = {
  HS256: { family: "hmac", hash: "SHA-256" },
  HS384: { family: "hmac", hash: "SHA-384" },
  HS512: { family: "hmac", hash: "SHA-512" },
  RS256: { family: "rsa", hash: "SHA-256" },
  RS384: { family: "rsa", hash: "SHA-384" },
  RS512: { family: "rsa", hash: "SHA-512" },
  PS256: { family: "pss", hash: "SHA-256", extra: 32 },
  PS384: { family: "pss", hash: "SHA-384", extra: 48 },
  PS512: { family: "pss", hash: "SHA-512", extra: 64 },
  ES256: { family: "ec", hash: "SHA-256", extra: "P-256" },
  ES384: { family: "ec", hash: "SHA-384", extra: "P-384" },
  ES512: { family: "ec", hash: "SHA-512", extra: "P-521" },
  EdDSA: { family: "ed", hash: "SHA-256" },
};

/** Creates the authenticator; throws when no usable key is configured. */
export async function createJwtAuthenticator(
  options: JwtAuthenticatorOptions,
): Promise<Authenticator> {
  const tenantClaim = options.tenantClaim ?? "tenant";
  const skewMs = (options.clockSkewSeconds ?? 30) * 1000;
  const requireExpiry = options.requireExpiry ?? true;
  const maxTokenBytes = options.maxTokenBytes ?? 8192;
  const nowMs = options.nowMs ?? Date.now;
  if (!Number.isFinite(skewMs) || skewMs < 0) {
    throw new Error(`clockSkewSeconds must be >= 0, got ${options.clockSkewSeconds}`);
  }
  const hmacSecret = typeof options.hmacSecret === "string"
    ? new TextEncoder().encode(options.hmacSecret)
    : options.hmacSecret;
  if (hmacSecret !== undefined && hmacSecret.length < 32) {
    throw new Error(`hmacSecret must be at least 32 bytes, got ${hmacSecret.length}`);
  }
  const spki = options.publicKeyPem !== undefined ? pemToSpki(options.publicKeyPem) : undefined;
  if (hmacSecret === undefined && spki === undefined) {
    throw new Error("JWT authentication needs hmacSecret or publicKeyPem");
  }
  const publicFamily = spki !== undefined ? await detectKeyFamily(spki) : null;

  /** Imported keys by algorithm name (import once). */
  const keys = new Map<string, Promise<CryptoKey | null>>();
  const keyFor = (alg: string, spec: AlgSpec): Promise<CryptoKey | null> => {
    let key = keys.get(alg);
    if (key === undefined) {
      key = importFor(spec, hmacSecret, spki, publicFamily).catch(() => null);
      keys.set(alg, key);
    }
    return key;
  };

  const bad: AuthResult = { ok: false, reason: "bad-credentials" };

  const authenticate = async (req: AuthRequest): Promise<AuthResult> => {
    const password = req.password;
    if (password === null || password.length === 0 || password.length > maxTokenBytes) return bad;
    const token = new TextDecoder().decode(password);
    const parts = token.split(".");
    if (parts.length !== 3) return bad;
    const header = parseJsonPart(parts[0]);
    const claims = parseJsonPart(parts[1]);
    if (header === null || claims === null) return bad;
    const alg = header.alg;
    if (typeof alg !== "string" || !Object.hasOwn(ALGORITHMS, alg)) return bad;
    const spec = ALGORITHMS[alg];
    const key = await keyFor(alg, spec);
    if (key === null) return bad;
    const signature = base64UrlBytes(parts[2]);
    if (signature === null) return bad;
    const signed = new TextEncoder().encode(`${parts[0]}.${parts[1]}`);
    const ok = await crypto.subtle.verify(verifyParams(spec), key, signature, signed).catch(() =>
      false
    );
    if (!ok) return bad;

    const now = nowMs();
    const exp = claims.exp;
    if (exp !== undefined && (typeof exp !== "number" || now > exp * 1000 + skewMs)) return bad;
    if (exp === undefined && requireExpiry) return bad;
    const nbf = claims.nbf;
    if (nbf !== undefined && (typeof nbf !== "number" || now + skewMs < nbf * 1000)) return bad;
    if (options.issuer !== undefined && claims.iss !== options.issuer) {
      return { ok: false, reason: "not-authorized" };
    }
    if (options.audience !== undefined && !audienceMatches(claims.aud, options.audience)) {
      return { ok: false, reason: "not-authorized" };
    }
    const sub = typeof claims.sub === "string" ? claims.sub : null;
    if (
      options.usernameMustMatchSubject && req.username !== null && sub !== null &&
      req.username !== sub
    ) return bad;
    const tenantValue = claims[tenantClaim];
    const tenant = typeof tenantValue === "string" && tenantValue !== ""
      ? tenantValue
      : DEFAULT_TENANT;
    return { ok: true, tenant, user: sub ?? req.username };
  };
  return { authenticate };
}

function audienceMatches(aud: unknown, wanted: string): boolean {
  if (typeof aud === "string") return aud === wanted;
  return Array.isArray(aud) && aud.includes(wanted);
}

function verifyParams(spec: AlgSpec): AlgorithmIdentifier | RsaPssParams | EcdsaParams {
  switch (spec.family) {
    case "hmac":
      return "HMAC";
    case "rsa":
      return "RSASSA-PKCS1-v1_5";
    case "pss":
      return { name: "RSA-PSS", saltLength: spec.extra as number };
    case "ec":
      return { name: "ECDSA", hash: spec.hash };
    case "ed":
      return "Ed25519";
  }
}

type PublicFamily = { kind: "rsa" } | { kind: "ec"; curve: string } | { kind: "ed" };

async function importFor(
  spec: AlgSpec,
  hmacSecret: Uint8Array | undefined,
  spki: Uint8Array | undefined,
  family: PublicFamily | null,
): Promise<CryptoKey | null> {
  if (spec.family === "hmac") {
    if (hmacSecret === undefined) return null;
    return await crypto.subtle.importKey(
      "raw",
      hmacSecret as Uint8Array<ArrayBuffer>,
      { name: "HMAC", hash: spec.hash },
      false,
      ["verify"],
    );
  }
  if (spki === undefined || family === null) return null;
  const data = spki as Uint8Array<ArrayBuffer>;
  if ((spec.family === "rsa" || spec.family === "pss") && family.kind === "rsa") {
    const name = spec.family === "rsa" ? "RSASSA-PKCS1-v1_5" : "RSA-PSS";
    return await crypto.subtle.importKey("spki", data, { name, hash: spec.hash }, false, [
      "verify",
    ]);
  }
  if (spec.family === "ec" && family.kind === "ec" && family.curve === spec.extra) {
    return await crypto.subtle.importKey(
      "spki",
      data,
      { name: "ECDSA", namedCurve: family.curve },
      false,
      ["verify"],
    );
  }
  if (spec.family === "ed" && family.kind === "ed") {
    return await crypto.subtle.importKey("spki", data, "Ed25519", false, ["verify"]);
  }
  return null;
}

/** Finds out what kind of public key the SPKI holds by trying the imports. */
async function detectKeyFamily(spki: Uint8Array): Promise<PublicFamily> {
  const data = spki as Uint8Array<ArrayBuffer>;
  const attempts: [PublicFamily, () => Promise<CryptoKey>][] = [
    [
      { kind: "rsa" },
      () =>
        crypto.subtle.importKey(
          "spki",
          data,
          { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
          false,
          [
            "verify",
          ],
        ),
    ],
    ...["P-256", "P-384", "P-521"].map((curve): [PublicFamily, () => Promise<CryptoKey>] => [
      { kind: "ec", curve },
      () =>
        crypto.subtle.importKey("spki", data, { name: "ECDSA", namedCurve: curve }, false, [
          "verify",
        ]),
    ]),
    [{ kind: "ed" }, () => crypto.subtle.importKey("spki", data, "Ed25519", false, ["verify"])],
  ];
  for (const [family, attempt] of attempts) {
    try {
      await attempt();
      return family;
    } catch {
      // not this kind
    }
  }
  throw new Error("publicKeyPem is not an RSA, EC (P-256/384/521) or Ed25519 public key");
}

function pemToSpki(pem: string): Uint8Array {
  const match = /-----BEGIN PUBLIC KEY-----([\s\S]+?)-----END PUBLIC KEY-----/.exec(pem);
  if (match === null) {
    throw new Error('publicKeyPem must contain a "-----BEGIN PUBLIC KEY-----" block (SPKI)');
  }
  return new Uint8Array(Buffer.from(match[1].replace(/\s+/g, ""), "base64"));
}

function base64UrlBytes(text: string): Uint8Array<ArrayBuffer> | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return null;
  return new Uint8Array(Buffer.from(text, "base64url"));
}

function parseJsonPart(text: string): Record<string, unknown> | null {
  const bytes = base64UrlBytes(text);
  if (bytes === null) return null;
  try {
    const value: unknown = JSON.parse(new TextDecoder().decode(bytes));
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? value as Record<string, unknown>
      : null;
  } catch {
    return null;
  }
}
