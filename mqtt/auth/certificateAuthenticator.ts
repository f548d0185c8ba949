/**
 * Authentication by TLS client certificate: a client whose certificate
 * chains to the listener's CA (`caFile`) is the user named by its subject CN.
 *
 * Use with `requireClientCert` (or `caFile` with optional certificates, then
 * clients without a valid certificate get "not-authorized"). The tenant is
 * the subject's O (organization) when `tenantFromOrganization` is set, else
 * "default". A user name sent in CONNECT is ignored unless
 * `usernameMustMatchCN`, in which case a different one is refused.
 *
 * @module
 */

import type { Authenticator, AuthRequest, AuthResult } from "./types.ts";
import { DEFAULT_TENANT } from "./types.ts";

/** Options of {@link createCertificateAuthenticator}. */
export interface CertificateAuthenticatorOptions {
  /** Tenant = subject O. Default false (tenant "default"). */
  tenantFromOrganization?: boolean;
  /** Refuse a CONNECT whose user name is set and differs from the CN. Default false. */
  usernameMustMatchCN?: boolean;
}

/** Creates the authenticator. */
export function createCertificateAuthenticator(
  options: CertificateAuthenticatorOptions = {},
): Authenticator {
  return {
    authenticate(req: AuthRequest): Promise<AuthResult> {
      const cert = req.clientCertificate;
      if (cert === null || !cert.authorized || cert.subjectCN === null || cert.subjectCN === "") {
        return Promise.resolve({ ok: false, reason: "not-authorized" });
      }
      if (options.usernameMustMatchCN && req.username !== null && req.username !== cert.subjectCN) {
        return Promise.resolve({ ok: false, reason: "bad-credentials" });
      }
      const org = cert.subject.O;
      const tenant = options.tenantFromOrganization && org !== undefined && org !== ""
        ? org
        : DEFAULT_TENANT;
      return Promise.resolve({ ok: true, tenant, user: cert.subjectCN });
    },
  };
}
