/**
 * Client authentication as configured: certificate, JWT, password file and
 * anonymous access, combined in that order of precedence.
 *
 * - A client presenting a verified certificate is authenticated by it when
 *   `certificateAuth` is configured.
 * - A password that looks like a JWT (three base64url parts) goes to
 *   `jwtAuth` when configured.
 * - A user name goes to the password file when configured.
 * - A CONNECT without user name and password is anonymous: accepted (tenant
 *   `default`) only when anonymous access is allowed.
 * - With no authentication configured at all and anonymous access allowed,
 *   any credentials are accepted (as mosquitto's `allow_anonymous true`).
 * - Anything else is refused (bad credentials).
 *
 * @module
 */
import { type EdgemqConfig, hasAuthentication } from "./config/mod.ts";
import type { Logger } from "./log/jsonLog.ts";
import {
  type Authenticator,
  type AuthRequest,
  type AuthResult,
  createAnonymousAuthenticator,
  createCertificateAuthenticator,
  createJwtAuthenticator,
  createPasswordFileAuthenticator,
} from "./mqtt/auth/mod.ts";

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
const decoder = new TextDecoder();

function looksLikeJwt(password: Uint8Array | null): boolean {
  if (password === null || password.length < 5 || password.length > 16384) return false;
  return JWT_SHAPE.test(decoder.decode(password));
}

const refuse = (reason: "bad-credentials" | "not-authorized"): Promise<AuthResult> =>
  Promise.resolve({ ok: false, reason });

/** Builds the node's authenticator from the configuration. */
export async function buildAuthenticator(
  config: EdgemqConfig,
  log: Logger,
): Promise<Authenticator> {
  const m = config.mqttServiceConfig;
  const allowAnonymous = m.allowAnonymous ?? !hasAuthentication(config);
  const anonymous = createAnonymousAuthenticator();
  const file = m.passwordFile === null
    ? null
    : await createPasswordFileAuthenticator(m.passwordFile, { log });
  let jwt: Authenticator | null = null;
  if (m.jwtAuth !== null) {
    const j = m.jwtAuth;
    jwt = await createJwtAuthenticator({
      ...(j.hmacSecretFile !== null ? { hmacSecret: await Deno.readFile(j.hmacSecretFile) } : {}),
      ...(j.publicKeyFile !== null
        ? { publicKeyPem: await Deno.readTextFile(j.publicKeyFile) }
        : {}),
      ...(j.issuer !== null ? { issuer: j.issuer } : {}),
      ...(j.audience !== null ? { audience: j.audience } : {}),
      tenantClaim: j.tenantClaim,
      requireExpiry: j.requireExpiry,
      usernameMustMatchSubject: j.usernameMustMatchSubject,
    });
  }
  const cert = m.certificateAuth === null ? null : createCertificateAuthenticator({
    tenantFromOrganization: m.certificateAuth.tenantFromOrganization,
    usernameMustMatchCN: m.certificateAuth.usernameMustMatchCN,
  });
  const anyConfigured = file !== null || jwt !== null || cert !== null;
  return {
    authenticate(req: AuthRequest): Promise<AuthResult> {
      if (cert !== null && req.clientCertificate?.authorized === true) {
        return cert.authenticate(req);
      }
      if (jwt !== null && looksLikeJwt(req.password)) return jwt.authenticate(req);
      if (file !== null && req.username !== null) return file.authenticate(req);
      if (req.username === null && req.password === null) {
        return allowAnonymous ? anonymous.authenticate(req) : refuse("not-authorized");
      }
      if (!anyConfigured && allowAnonymous) return anonymous.authenticate(req);
      return refuse("bad-credentials");
    },
  };
}
