import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { createCertificateAuthenticator } from "./certificateAuthenticator.ts";
import type { AuthRequest } from "./types.ts";
import type { ClientCertificateInfo } from "../transport/types.ts";

const cert: ClientCertificateInfo = {
  subjectCN: "device-9",
  subject: { CN: "device-9", O: "acme" },
  issuerCN: "ca",
  fingerprint256: "AA",
  authorized: true,
};

function req(
  clientCertificate: ClientCertificateInfo | null,
  username: string | null = null,
): AuthRequest {
  return {
    username,
    password: null,
    clientId: "c",
    listener: "tls",
    remoteAddress: "127.0.0.1",
    clientCertificate,
  };
}

Deno.test("certificate CN is the user; O the tenant when asked; unverified certificates refused", async () => {
  const plain = createCertificateAuthenticator();
  assertEquals(await plain.authenticate(req(cert)), {
    ok: true,
    tenant: "default",
    user: "device-9",
  });
  const byOrg = createCertificateAuthenticator({
    tenantFromOrganization: true,
    usernameMustMatchCN: true,
  });
  assertEquals(await byOrg.authenticate(req(cert, "device-9")), {
    ok: true,
    tenant: "acme",
    user: "device-9",
  });
  assertEquals(await byOrg.authenticate(req(cert, "other")), {
    ok: false,
    reason: "bad-credentials",
  });
  const notAuthorized = { ok: false, reason: "not-authorized" };
  assertEquals(await plain.authenticate(req(null)), notAuthorized);
  assertEquals(await plain.authenticate(req({ ...cert, authorized: false })), notAuthorized);
  assertEquals(await plain.authenticate(req({ ...cert, subjectCN: null })), notAuthorized);
});
