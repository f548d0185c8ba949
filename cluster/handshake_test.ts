import { deepStrictEqual, notDeepStrictEqual, ok } from "node:assert/strict";
import { computeProof, Handshake, newNonce, verifyProof } from "./handshake.ts";

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

function run(
  client: { env: string; secret: string },
  server: { env: string; secret: string },
): { admitted: [boolean, boolean]; reasons: string[] } {
  const isValidPeerId = (id: string) => id.includes(":");
  const c = new Handshake({
    role: "client",
    ...client,
    localId: "c:1",
    expectedPeerId: "s:1",
    isValidPeerId,
  });
  const s = new Handshake({ role: "server", ...server, localId: "s:1", isValidPeerId });
  const admitted: [boolean, boolean] = [false, false];
  const reasons: string[] = [];
  let toServer: unknown = c.hello();
  for (let i = 0; i < 4 && toServer !== undefined; i++) {
    const sr = s.step(toServer);
    if (sr.admitted) admitted[1] = true;
    if (sr.refused) {
      reasons.push(`server: ${sr.refused.reason}`);
      if (sr.refused.notifyPeer) c.step({ t: "reject", reason: sr.refused.reason });
      break;
    }
    if (sr.send === undefined) break;
    const cr = c.step(sr.send);
    if (cr.admitted) admitted[0] = true;
    if (cr.refused) {
      reasons.push(`client: ${cr.refused.reason}`);
      if (cr.refused.notifyPeer) {
        const back = s.step({ t: "reject", reason: cr.refused.reason });
        if (back.refused) reasons.push(`server: ${back.refused.reason}`);
      }
      break;
    }
    toServer = cr.send;
  }
  return { admitted, reasons };
}

Deno.test("handshake state machine: same env and secret admit both sides", () => {
  deepStrictEqual(run({ env: "p", secret: "k" }, { env: "p", secret: "k" }), {
    admitted: [true, true],
    reasons: [],
  });
});

Deno.test("handshake state machine: wrong secret or env is refused on both sides", () => {
  const bad = run({ env: "p", secret: "x" }, { env: "p", secret: "k" });
  deepStrictEqual(bad.admitted, [false, false]);
  ok(bad.reasons[0].startsWith("client: peer failed to prove"), bad.reasons.join("; "));
  ok(bad.reasons[1].startsWith("server: refused by peer"), bad.reasons.join("; "));
  const env = run({ env: "dev", secret: "k" }, { env: "p", secret: "k" });
  deepStrictEqual(env.admitted, [false, false]);
  ok(env.reasons[0].includes("env mismatch"), env.reasons.join("; "));
});
