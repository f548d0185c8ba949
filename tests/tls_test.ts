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

async function openssl(args: string[], cwd: string): Promise<void> {
  const out = await new Deno.Command("openssl", {
    args,
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  if (out.code !== 0) {
    throw new Error(`openssl ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** Make ca.crt, server.{crt,key} (SAN 127.0.0.1) and client.{crt,key} in dir. */
async function makePki(dir: string): Promise<void> {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await openssl([
    "req",
    "-x509",
    ...ec,
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
    "-days",
    "2",
    "-subj",
    "/CN=edgemq-e2e-ca",
  ], dir);
  await Deno.writeTextFile(
    `${dir}/server.ext`,
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
  );
  await Deno.writeTextFile(`${dir}/client.ext`, "extendedKeyUsage=clientAuth\n");
  for (const who of ["server", "client"]) {
    await openssl([
      "req",
      ...ec,
      "-keyout",
      `${who}.key`,
      "-out",
      `${who}.csr`,
      "-subj",
      `/CN=e2e-${who}`,
    ], dir);
    await openssl([
      "x509",
      "-req",
      "-in",
      `${who}.csr`,
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      `${who}.crt`,
      "-days",
      "2",
      "-extfile",
      `${who}.ext`,
    ], dir);
  }
}

Deno.test("TLS and WSS listeners", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "edgemq-e2e-tls-" });
  try {
    await makePki(dir);
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
