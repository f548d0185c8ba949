import { notDeepStrictEqual, ok } from "node:assert/strict";
import { computeProof, newNonce, verifyProof } from "./handshake.ts";

Deno.test("handshake proofs bind secret, role, env, ids and nonces", () => {
  const t = {
    env: "prod",
    clientId: "a:1",
    serverId: "b:1",
    clientNonce: newNonce(),
    serverNonce: newNonce(),
  };
  const p = computeProof("s", "client", t);
  ok(verifyProof("s", "client", t, p));
  ok(!verifyProof("s", "server", t, p), "reflection across roles");
  ok(!verifyProof("other", "client", t, p));
  ok(!verifyProof("s", "client", { ...t, env: "dev" }, p));
  ok(!verifyProof("s", "client", { ...t, serverNonce: newNonce() }, p));
  ok(!verifyProof("s", "client", t, "not bytes"));
  notDeepStrictEqual(newNonce(), newNonce());
});
