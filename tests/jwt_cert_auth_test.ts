/**
 * End to end (edgemq only): JSON Web Tokens as the CONNECT password, and TLS client
 * certificates as credentials.
 */

import { Buffer } from "node:buffer";
import { assert, assertEquals, assertRejects } from "./harness/assert.ts";
import { IS_MOSQUITTO, startBroker } from "./harness/broker.ts";
import { closeClient, connectClient, Inbox, uniqueId } from "./harness/clients.ts";
import { makePki } from "./harness/pki.ts";
import { RawClient } from "./harness/raw.ts";

const SECRET = "e2e-secret-0123456789-abcdefghijklmnopqrstuvwxyz";

function b64url(bytes: Uint8Array | string): string {
  const b = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
  return btoa(String.fromCharCode(...b)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** An HS256 JWT over claims, signed with secret. */
async function hs256(claims: Record<string, unknown>, secret = SECRET): Promise<string> {
  const head = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const body = b64url(JSON.stringify(claims));
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const sig = new Uint8Array(
    await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(`${head}.${body}`)),
  );
  return `${head}.${body}.${b64url(sig)}`;
}

const now = () => Math.floor(Date.now() / 1000);

Deno.test({
  name: "JWT authentication",
  ignore: IS_MOSQUITTO,
  fn: async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "edgemq-e2e-jwt-" });
    await Deno.writeTextFile(`${dir}/secret`, SECRET);
    const b = await startBroker({
      ws: false,
      allowAnonymous: false,
      extraMqtt: { jwtAuth: { hmacSecretFile: `${dir}/secret`, issuer: "e2e-issuer" } },
    });
    const refused = async (v: 4 | 5, password: string | undefined, username = "jwtuser") => {
      const { client, connack } = await RawClient.connect(b.tcpPort, {
        clientId: uniqueId("jwt"),
        protocolVersion: v,
        username,
        password,
      });
      client.close();
      const code = connack.returnCode ?? connack.reasonCode ?? 0;
      assert(v === 4 ? [4, 5].includes(code) : [0x86, 0x87].includes(code), `CONNACK ${code}`);
    };
    try {
      const good = { sub: "jwtuser", iss: "e2e-issuer", exp: now() + 600 };
      await t.step(
        "a valid HS256 token as the password connects (3.1.1 and 5) and can pub/sub",
        async () => {
          for (const v of [4, 5] as const) {
            const c = await connectClient(b, {
              protocolVersion: v,
              username: "jwtuser",
              password: await hs256(good),
            });
            const topic = `jwt/${uniqueId()}`;
            const inbox = new Inbox(c);
            await c.subscribeAsync(topic, { qos: 1 });
            await c.publishAsync(topic, "ok", { qos: 1 });
            assertEquals((await inbox.next()).payload, "ok");
            await closeClient(c);
          }
        },
      );
      await t.step("an expired token is refused", async () => {
        for (const v of [4, 5] as const) {
          await refused(v, await hs256({ ...good, exp: now() - 60 }));
        }
      });
      await t.step("a token signed with another secret is refused", async () => {
        for (const v of [4, 5] as const) await refused(v, await hs256(good, SECRET + "x"));
      });
      await t.step("a token without exp is refused (requireExpiry)", async () => {
        await refused(5, await hs256({ sub: "jwtuser", iss: "e2e-issuer" }));
      });
      await t.step("a token from another issuer is refused", async () => {
        await refused(5, await hs256({ ...good, iss: "someone-else" }));
      });
      await t.step(
        "garbage and missing passwords are refused, and anonymous clients too",
        async () => {
          await refused(5, "not.a.jwt");
          await refused(4, "");
          await refused(5, undefined, "");
        },
      );
      await t.step("a token with alg none is refused", async () => {
        const token = `${b64url(JSON.stringify({ alg: "none", typ: "JWT" }))}.${
          b64url(JSON.stringify(good))
        }.`;
        await refused(5, token);
      });
      await t.step("tokens of different tenants do not see each other's messages", async () => {
        const topic = `jwtt/${uniqueId()}`;
        const a = await connectClient(b, {
          protocolVersion: 5,
          username: "ua",
          password: await hs256({ ...good, sub: "ua", tenant: "ta" }),
        });
        const c = await connectClient(b, {
          protocolVersion: 5,
          username: "ub",
          password: await hs256({ ...good, sub: "ub", tenant: "tb" }),
        });
        const ia = new Inbox(a);
        await a.subscribeAsync(topic, { qos: 1 });
        await c.publishAsync(topic, "other-tenant", { qos: 1 });
        await ia.expectNone(400);
        await closeClient(a);
        await closeClient(c);
      });
    } finally {
      await b.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "TLS client certificates as credentials",
  ignore: IS_MOSQUITTO,
  fn: async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "edgemq-e2e-certauth-" });
    try {
      await makePki(dir, {
        caSubject: "/CN=e2e-ca",
        serverAltName: "IP:127.0.0.1",
        serverSubject: "/CN=127.0.0.1",
        clientSubject: "/O=certco/CN=device-7",
      });
      const b = await startBroker({
        ws: false,
        allowAnonymous: false,
        tls: {
          certFile: `${dir}/server.crt`,
          keyFile: `${dir}/server.key`,
          caFile: `${dir}/ca.crt`,
          requireClientCert: false,
        },
        extraMqtt: { certificateAuth: { tenantFromOrganization: true, usernameMustMatchCN: true } },
      });
      try {
        const ca = Buffer.from(await Deno.readFile(`${dir}/ca.crt`));
        const cert = Buffer.from(await Deno.readFile(`${dir}/client.crt`));
        const key = Buffer.from(await Deno.readFile(`${dir}/client.key`));
        await t.step(
          "a client certificate authenticates a TLS client without user name or password",
          async () => {
            const c = await connectClient(b, {
              protocolVersion: 5,
              transport: "tls",
              ca,
              cert,
              key,
            });
            assert(c.connected);
            await closeClient(c);
          },
        );
        await t.step("a user name that differs from the certificate CN is refused", async () => {
          await assertRejects(() =>
            connectClient(b, {
              protocolVersion: 5,
              transport: "tls",
              ca,
              cert,
              key,
              username: "someone-else",
            })
          );
        });
        await t.step(
          "a TLS client without a certificate and without credentials is refused",
          async () => {
            await assertRejects(() =>
              connectClient(b, { protocolVersion: 5, transport: "tls", ca })
            );
          },
        );
        await t.step("a plain TCP client without credentials is refused", async () => {
          await assertRejects(() => connectClient(b, { protocolVersion: 5 }));
        });
      } finally {
        await b.stop();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
