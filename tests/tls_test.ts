/**
 * End to end: TLS and secure WebSocket listeners, with optional and required
 * client certificates (a throw-away CA made with openssl per run).
 */

import { Buffer } from "node:buffer";
import { assert, assertEquals, assertRejects } from "./harness/assert.ts";
import { startBroker } from "./harness/broker.ts";
import {
  closeClient,
  connectClient,
  type ConnectOptions,
  Inbox,
  type Transport,
  uniqueId,
} from "./harness/clients.ts";
import { makePki } from "./harness/pki.ts";

Deno.test("TLS and WSS listeners", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "edgemq-e2e-tls-" });
  try {
    await makePki(dir, {
      caSubject: "/CN=edgemq-e2e-ca",
      serverAltName: "IP:127.0.0.1,DNS:localhost",
      serverSubject: "/CN=e2e-server",
      clientSubject: "/CN=e2e-client",
    });
    const ca = Buffer.from(await Deno.readFile(`${dir}/ca.crt`));
    const cert = Buffer.from(await Deno.readFile(`${dir}/client.crt`));
    const key = Buffer.from(await Deno.readFile(`${dir}/client.key`));
    const files = {
      certFile: `${dir}/server.crt`,
      keyFile: `${dir}/server.key`,
      caFile: `${dir}/ca.crt`,
    };
    const secure: ConnectOptions = { ca, rejectUnauthorized: true };
    const roundTrip = async (
      b: Parameters<typeof connectClient>[0],
      transport: Transport,
      extra: ConnectOptions,
    ) => {
      const c = await connectClient(b, { protocolVersion: 5, transport, ...secure, ...extra });
      try {
        const topic = `tls/${uniqueId()}`;
        const inbox = new Inbox(c);
        await c.subscribeAsync(topic, { qos: 1 });
        await c.publishAsync(topic, transport, { qos: 1 });
        assertEquals((await inbox.next()).payload, transport);
      } finally {
        await closeClient(c);
      }
    };

    const b = await startBroker({ tls: { ...files, requireClientCert: false } });
    try {
      for (const transport of ["tls", "wss"] as const) {
        await t.step(
          `${transport}: a client verifying the server certificate does a QoS 1 round trip`,
          async () => {
            await roundTrip(b, transport, {});
          },
        );
        await t.step(
          `${transport}: a client that does not trust the CA is refused by its own verification`,
          async () => {
            await assertRejects(() =>
              connectClient(b, { transport, rejectUnauthorized: true, connectTimeout: 3000 })
            );
          },
        );
      }
      await t.step("a TLS client and a plain TCP client exchange messages", async () => {
        const topic = `tlsmix/${uniqueId()}`;
        const plain = await connectClient(b, { protocolVersion: 4 });
        const inbox = new Inbox(plain);
        await plain.subscribeAsync(topic, { qos: 1 });
        const s = await connectClient(b, { protocolVersion: 4, transport: "tls", ...secure });
        await s.publishAsync(topic, "across", { qos: 1 });
        assertEquals((await inbox.next()).payload, "across");
        await closeClient(s);
        await closeClient(plain);
      });
    } finally {
      await b.stop();
    }

    const m = await startBroker({ ws: false, tls: { ...files, requireClientCert: true } });
    try {
      for (const transport of ["tls", "wss"] as const) {
        await t.step(
          `${transport} with requireClientCert: a client certificate signed by the CA is accepted`,
          async () => {
            await roundTrip(m, transport, { cert, key });
          },
        );
        await t.step(
          `${transport} with requireClientCert: a client without a certificate is refused`,
          async () => {
            const e = await assertRejects(() =>
              connectClient(m, { protocolVersion: 5, transport, ...secure, connectTimeout: 3000 })
            );
            assert(e instanceof Error);
          },
        );
      }
    } finally {
      await m.stop();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
