/**
 * End to end: password-file authentication (users created with the CLI) and ACLs
 * on publish, subscribe and delivery, with MQTT.js and the mosquitto clients.
 */

import { assert, assertEquals, assertRejects } from "./harness/assert.ts";
import { addPasswordUser, edgemqStep, sleep, startBroker } from "./harness/broker.ts";
import {
  closeClient,
  connectClient,
  Inbox,
  inboxOf,
  type MqttClient,
  publishReason,
  subscribeGranted,
  uniqueId,
} from "./harness/clients.ts";
import { mosqPub, MosqSub } from "./harness/mosquittoCli.ts";
import { RawClient } from "./harness/raw.ts";

const USERS: Record<string, string> = {
  alice: "alice-pw-1",
  bob: "bob-pw-2",
  carol: "carol-pw-3",
  // tenant-prefixed users (edgemq: tenant acme / globex)
  "acme/ann": "ann-pw",
  "acme/amy": "amy-pw",
  "globex/gus": "gus-pw",
};

Deno.test("password file authentication and ACLs", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "edgemq-e2e-auth-" });
  const passwordFile = `${dir}/passwd`;
  for (const [u, p] of Object.entries(USERS)) await addPasswordUser(passwordFile, u, p);
  const b = await startBroker({
    allowAnonymous: false,
    passwordFile,
    acl: [
      { user: "alice", action: "publish", topic: "secret/#", allow: false },
      { action: "subscribe", topic: "test/nosubscribe", allow: false },
      { user: "bob", action: "subscribe", topic: "filt/private", allow: false },
      { user: "carol", action: "subscribe", topic: "secret/#", allow: false },
      { action: "all", topic: "users/%u/#", allow: true },
      { action: "all", topic: "users/#", allow: false },
    ],
    aclDefault: "allow",
  });
  const open: MqttClient[] = [];
  const as = async (user: string, v: 4 | 5 = 5) => {
    const c = await connectClient(b, { protocolVersion: v, username: user, password: USERS[user] });
    open.push(c);
    return c;
  };
  try {
    for (const v of [4, 5] as const) {
      const tag = v === 4 ? "v3.1.1" : "v5";
      await t.step(
        `${tag}: a user from the password file connects with the right password`,
        async () => {
          const c = await as("alice", v);
          assert(c.connected);
          await closeClient(c);
        },
      );

      await t.step(
        `${tag}: a wrong password, an unknown user and no credentials are refused`,
        async () => {
          const cases = [
            { username: "alice", password: "wrong" },
            { username: "mallory", password: "x" },
            {},
          ];
          for (const creds of cases) {
            const { client, connack } = await RawClient.connect(b.tcpPort, {
              clientId: uniqueId("auth"),
              protocolVersion: v,
              ...creds,
            });
            if (v === 4) {
              assert(
                [4, 5].includes(connack.returnCode ?? -1),
                `CONNACK return code ${connack.returnCode}`,
              );
            } else {
              assert(
                [0x86, 0x87].includes(connack.reasonCode ?? -1),
                `CONNACK reason ${connack.reasonCode}`,
              );
            }
            await client.waitClosed(3000);
          }
        },
      );
    }

    await t.step("MQTT.js reports a refused connection as an error", async () => {
      await assertRejects(() =>
        connectClient(b, { protocolVersion: 5, username: "bob", password: "nope" })
      );
    });

    for (const version of ["mqttv31", "mqttv311", "mqttv5"] as const) {
      await t.step(
        `${version}: mosquitto_pub/sub authenticate with -u/-P; a wrong password fails`,
        async () => {
          const topic = `auth/${uniqueId()}`;
          const s = await MosqSub.start(b, topic, {
            version,
            qos: 1,
            user: "bob",
            password: USERS.bob,
          });
          try {
            const ok = await mosqPub(b, topic, "hi", {
              version,
              qos: 1,
              user: "alice",
              password: USERS.alice,
            });
            assertEquals(ok.code, 0, ok.output);
            assertEquals((await s.waitCount(1))[0].payload, "hi");
            const bad = await mosqPub(b, topic, "no", {
              version,
              qos: 1,
              user: "alice",
              password: "bad",
            });
            assert(bad.code !== 0, "mosquitto_pub with a bad password must fail");
          } finally {
            await s.stop();
          }
        },
      );
    }

    await edgemqStep(t, "v5: a denied publish gets PUBACK 0x87 and is not delivered", async () => {
      const bob = await as("bob");
      const inbox = new Inbox(bob);
      await bob.subscribeAsync("secret/#", { qos: 1 });
      const alice = await as("alice");
      assertEquals(await publishReason(alice, "secret/plan", "x", { qos: 1 }), 0x87);
      await inbox.expectNone(500);
      await bob.publishAsync("secret/plan", "by-bob", { qos: 1 });
      assertEquals((await inbox.next()).payload, "by-bob");
      await closeClient(alice);
      await closeClient(bob);
    });

    await edgemqStep(
      t,
      "v3.1.1: a denied publish is not delivered; the client gets its PUBACK or is disconnected",
      async () => {
        const bob = await as("bob", 4);
        const inbox = new Inbox(bob);
        await bob.subscribeAsync("secret/#", { qos: 1 });
        const alice = await as("alice", 4);
        // v3.1.1 has no reason code: the server either acknowledges or closes the connection
        let acked = false;
        await alice.publishAsync("secret/v3", "x", { qos: 1 }).then(() => acked = true, () => {});
        assert(acked || !alice.connected, "denied publish neither acknowledged nor disconnected");
        await inbox.expectNone(500);
        // bob's subscription does deliver what may be published there
        await bob.publishAsync("secret/v3", "by-bob", { qos: 1 });
        assertEquals((await inbox.next()).payload, "by-bob");
        alice.end(true);
        await closeClient(bob);
      },
    );

    await edgemqStep(
      t,
      "a denied subscription gets SUBACK 0x80 (v3.1.1) and 0x87 (v5)",
      async () => {
        for (const v of [4, 5] as const) {
          const c = await as("carol", v);
          const granted = await subscribeGranted(c, ["test/nosubscribe", "test/ok"], { qos: 1 });
          assertEquals(granted, [v === 4 ? 0x80 : 0x87, 1]);
          await closeClient(c);
        }
      },
    );

    await edgemqStep(
      t,
      "a client never receives messages on a topic it may not subscribe to",
      async () => {
        const bob = await as("bob");
        const inbox = new Inbox(bob);
        await subscribeGranted(bob, "filt/#", { qos: 1 });
        const alice = await as("alice");
        await alice.publishAsync("filt/private", "p", { qos: 1 });
        await alice.publishAsync("filt/public", "q", { qos: 1 });
        // same publisher, in order: a leaked filt/private would arrive before filt/public,
        // and filt/public arriving shows bob's filt/# subscription does deliver
        await inbox.waitFor((m) => m.topic === "filt/public");
        await sleep(500);
        assert(
          !inbox.messages.some((m) => m.topic === "filt/private"),
          "filt/private delivered to bob",
        );
        await closeClient(alice);
        await closeClient(bob);
      },
    );

    for (const v of [4, 5] as const) {
      await edgemqStep(
        t,
        `v${
          v === 4 ? "3.1.1" : "5"
        }: with deny subscribe secret/#, # is granted; secret/x never arrives (live, retained)`,
        async () => {
          const id = uniqueId("sx");
          const bob = await as("bob");
          await bob.publishAsync(`secret/${id}/r`, "secret-retained", { qos: 1, retain: true });
          await bob.publishAsync(`public/${id}/r`, "public-retained", { qos: 1, retain: true });
          const carol = await as("carol", v);
          const inbox = new Inbox(carol);
          const mine = () =>
            inbox.messages.filter((m) =>
              m.topic.endsWith(`/${id}/r`) || m.topic.endsWith(`/${id}/l`)
            );
          assertEquals(await subscribeGranted(carol, ["secret/#", "secret/x", "#"], { qos: 1 }), [
            v === 4 ? 0x80 : 0x87,
            v === 4 ? 0x80 : 0x87,
            1,
          ]);
          const retained = await inbox.waitFor((m) => m.topic === `public/${id}/r`);
          assert(retained.packet.retain, "retained flag on public/<id>/r");
          // same publisher, in order: a leaked secret/... would arrive before public/...
          await bob.publishAsync(`secret/${id}/l`, "secret-live", { qos: 1 });
          await bob.publishAsync(`public/${id}/l`, "public-live", { qos: 1 });
          await inbox.waitFor((m) => m.topic === `public/${id}/l`);
          await sleep(200);
          assertEquals(mine().map((m) => m.topic).sort(), [`public/${id}/l`, `public/${id}/r`]);
          for (const topic of [`secret/${id}/r`, `public/${id}/r`]) {
            await bob.publishAsync(topic, "", { qos: 1, retain: true });
          }
          await closeClient(carol);
          await closeClient(bob);
        },
      );
    }

    await edgemqStep(
      t,
      "with deny subscribe secret/#, a persistent session on # gets public/x but not secret/x queued while offline",
      async () => {
        const id = uniqueId("sq");
        const clientId = uniqueId("carol");
        const login = {
          protocolVersion: 4 as const,
          username: "carol",
          password: USERS.carol,
          clientId,
        };
        let carol = await connectClient(b, { ...login, clean: false });
        open.push(carol);
        assertEquals(await subscribeGranted(carol, "#", { qos: 1 }), [1]);
        await closeClient(carol);
        const bob = await as("bob");
        await bob.publishAsync(`secret/${id}`, "secret-queued", { qos: 1 });
        await bob.publishAsync(`public/${id}`, "public-queued", { qos: 1 });
        carol = await connectClient(b, { ...login, clean: false });
        open.push(carol);
        const inbox = inboxOf(carol);
        await inbox.waitFor((m) => m.topic === `public/${id}`);
        await sleep(200);
        assertEquals(
          inbox.messages.filter((m) => m.topic.endsWith(`/${id}`)).map((m) => m.topic),
          [`public/${id}`],
        );
        await closeClient(carol);
        // a clean connect discards the session and its # subscription
        carol = await connectClient(b, { ...login, clean: true });
        open.push(carol);
        await closeClient(carol);
        await closeClient(bob);
      },
    );

    await edgemqStep(t, "%u in an ACL topic stands for the user name", async () => {
      const alice = await as("alice");
      const inbox = new Inbox(alice);
      const g = await subscribeGranted(alice, ["users/alice/#", "users/bob/#"], { qos: 1 });
      assertEquals(g, [1, 0x87]);
      assertEquals(await publishReason(alice, "users/bob/inbox", "x", { qos: 1 }), 0x87);
      await alice.publishAsync("users/alice/inbox", "mine", { qos: 1 });
      assertEquals((await inbox.next()).payload, "mine");
      await inbox.expectNone(300);
      await closeClient(alice);
    });
    await edgemqStep(t, "messages and retained messages do not cross tenants", async () => {
      const topic = `tenant/${uniqueId()}`;
      const ann = await as("acme/ann");
      const annIn = new Inbox(ann);
      await ann.subscribeAsync(topic, { qos: 1 });
      const gus = await as("globex/gus");
      const gusIn = new Inbox(gus);
      await gus.subscribeAsync(topic, { qos: 1 });
      await gus.publishAsync(topic, "from-globex", { qos: 1, retain: true });
      const amy = await as("acme/amy");
      await amy.publishAsync(topic, "from-acme", { qos: 1 });
      assertEquals((await annIn.next()).payload, "from-acme");
      await annIn.expectNone(300);
      assertEquals((await gusIn.next()).payload, "from-globex");
      await gusIn.expectNone(0);
      // the retained message is globex's only
      const ann2 = await as("acme/amy");
      const in2 = new Inbox(ann2);
      await ann2.subscribeAsync(topic, { qos: 1 });
      await in2.expectNone(400);
      await gus.publishAsync(topic, "", { qos: 1, retain: true });
      for (const c of [ann, gus, amy, ann2]) await closeClient(c);
    });

    await edgemqStep(
      t,
      "the same client id in two tenants does not take over across tenants",
      async () => {
        const id = uniqueId("tid");
        const a = await connectClient(b, {
          protocolVersion: 5,
          clientId: id,
          username: "acme/ann",
          password: USERS["acme/ann"],
        });
        open.push(a);
        const g = await connectClient(b, {
          protocolVersion: 5,
          clientId: id,
          username: "globex/gus",
          password: USERS["globex/gus"],
        });
        open.push(g);
        await sleep(500);
        assert(a.connected && g.connected, "both connections stay up");
        await closeClient(a);
        await closeClient(g);
      },
    );
  } finally {
    for (const c of open) c.end(true);
    await b.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
