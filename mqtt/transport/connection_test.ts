import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { createMemoryLogger } from "../../log/jsonLog.ts";
import { type ByteChannel, Connection, type ConnectionOwner } from "./connection.ts";
import { defaultTransportLimits, type FrameError, type TransportLimits } from "./types.ts";

/** A channel that records calls; `pendingBytes` is set by the test. */
class FakeChannel implements ByteChannel {
  sends: { bytes: number[]; withCallback: boolean }[] = [];
  callbacks: (() => void)[] = [];
  pendingBytes = 0;
  remoteAddress = "127.0.0.1";
  remotePort = 1234;
  paused = false;
  ended = 0;
  destroyed = 0;
  send(bytes: Uint8Array, onWritten?: () => void): void {
    this.sends.push({ bytes: [...bytes], withCallback: onWritten !== undefined });
    if (onWritten) this.callbacks.push(onWritten);
  }
  pauseReading(): void {
    this.paused = true;
  }
  resumeReading(): void {
    this.paused = false;
  }
  end(): void {
    this.ended++;
  }
  destroy(): void {
    this.destroyed++;
  }
}

function setup(limitOverrides: Partial<TransportLimits> = {}) {
  const channel = new FakeChannel();
  const log = createMemoryLogger();
  const owner = { connected: 0, ending: 0, closed: 0 };
  const ownerImpl: ConnectionOwner = {
    connected: () => owner.connected++,
    ending: () => owner.ending++,
    closed: () => owner.closed++,
  };
  const limits = { ...defaultTransportLimits(), ...limitOverrides };
  const conn = new Connection(
    {
      listener: "tcp",
      limits,
      owner: ownerImpl,
      log,
      counters: {
        frameErrors: {
          "malformed-remaining-length": 0,
          "packet-too-large": 0,
          "connect-timeout": 0,
        },
        slowConsumers: 0,
      },
    },
    channel,
    {},
    null,
  );
  const events = {
    packets: [] as number[][],
    errors: [] as FrameError[],
    drains: 0,
    closes: 0,
  };
  const behaviour: {
    onPacket?: (p: Uint8Array) => void;
    onFrameError?: (e: FrameError) => void;
    onDrain?: () => void;
  } = {};
  conn.attach({
    onPacket: (p) => {
      events.packets.push([...p]);
      behaviour.onPacket?.(p);
    },
    onFrameError: (e) => {
      events.errors.push(e);
      behaviour.onFrameError?.(e);
    },
    onDrain: () => {
      events.drains++;
      behaviour.onDrain?.();
    },
    onClose: () => events.closes++,
  });
  return { conn, channel, log, owner, events, behaviour };
}

const tick = () => new Promise<void>((r) => queueMicrotask(r));

Deno.test("writes of one turn become one send, in order", async () => {
  const { conn, channel } = setup();
  assert(conn.write(Uint8Array.of(1, 2)));
  assert(conn.write(Uint8Array.of(3)));
  assertEquals(conn.bufferedBytes, 3);
  assertEquals(channel.sends.length, 0);
  await tick();
  assertEquals(channel.sends, [{ bytes: [1, 2, 3], withCallback: false }]);
  assertEquals(conn.bufferedBytes, 0);
});

Deno.test("write returns false above the high-water mark and onDrain follows once written", async () => {
  const { conn, channel, events } = setup({ writeHighWaterMarkBytes: 4 });
  assert(conn.write(new Uint8Array(4)));
  assertEquals(conn.write(new Uint8Array(1)), false);
  await tick();
  assertEquals(channel.sends[0].withCallback, true);
  channel.pendingBytes = 5; // still in the socket
  channel.callbacks[0]();
  assertEquals(events.drains, 0);
  channel.pendingBytes = 0;
  channel.callbacks[0]();
  assertEquals(events.drains, 1);
  channel.callbacks[0]();
  assertEquals(events.drains, 1, "onDrain once per false return");
});

Deno.test("a slow consumer beyond maxWriteBufferBytes is destroyed and logged", async () => {
  const { conn, channel, log } = setup({ writeHighWaterMarkBytes: 4, maxWriteBufferBytes: 10 });
  channel.pendingBytes = 8;
  assertEquals(conn.write(new Uint8Array(2)), false);
  assertEquals(channel.destroyed, 0);
  assertEquals(conn.write(new Uint8Array(1)), false);
  assertEquals(channel.destroyed, 1);
  assertEquals(log.lines.find((l) => l.event === "conn.slow-consumer")?.bufferedBytes, 11);
  await tick();
  assertEquals(channel.sends.length, 0, "queued writes are dropped on destroy");
  conn.channelClosed();
});

Deno.test("end() flushes queued writes, then ends the channel; later writes are refused, later input dropped", async () => {
  const { conn, channel, owner, events } = setup();
  conn.write(Uint8Array.of(0xe0, 0));
  conn.end();
  assertEquals(channel.ended, 0);
  assertEquals(conn.write(Uint8Array.of(1)), false);
  await tick();
  assertEquals(channel.sends.map((s) => s.bytes), [[0xe0, 0]]);
  assertEquals(channel.ended, 1);
  assertEquals(owner.ending, 1);
  assert(!channel.paused, "reads continue (discarded) so the peer's close is seen");
  conn.receive(Uint8Array.of(0xc0, 0));
  assertEquals(events.packets.length, 0);
});

Deno.test("frame error: the transport stops reading and destroys unless the handler ends", () => {
  const a = setup({ maxPacketBytes: 10 });
  a.conn.receive(Uint8Array.of(0x30, 20));
  assertEquals(a.events.errors.map((e) => e.kind), ["packet-too-large"]);
  assertEquals(a.channel.destroyed, 1);
  assert(a.channel.paused);
  a.conn.receive(Uint8Array.of(0xc0, 0));
  assertEquals(a.events.packets.length, 0);

  const b = setup({ maxPacketBytes: 10 });
  b.behaviour.onFrameError = () => b.conn.end();
  b.conn.receive(Uint8Array.of(0x30, 20));
  assertEquals(b.channel.destroyed, 0);
  assertEquals(b.channel.ended, 1);
});

Deno.test("a throwing onPacket destroys only this connection", () => {
  const { conn, channel, log, behaviour } = setup();
  behaviour.onPacket = () => {
    throw new Error("session bug");
  };
  conn.receive(Uint8Array.of(0xc0, 0, 0xc0, 0));
  assertEquals(channel.destroyed, 1);
  assertEquals(log.lines.filter((l) => l.event === "conn.handler-error").length, 1);
});

Deno.test("onClose exactly once; connect timeout only before markConnected", () => {
  const a = setup();
  a.conn.connectTimedOut();
  assertEquals(a.events.errors.map((e) => e.kind), ["connect-timeout"]);
  assert(a.events.errors[0].message.includes("10000"), a.events.errors[0].message);
  assertEquals(a.channel.destroyed, 1);
  a.conn.channelClosed();
  a.conn.channelClosed();
  assertEquals(a.events.closes, 1);
  assertEquals(a.owner.closed, 1);

  const b = setup();
  b.conn.markConnected();
  b.conn.markConnected();
  assertEquals(b.owner.connected, 1);
  b.conn.connectTimedOut();
  assertEquals(b.events.errors.length, 0);
});

Deno.test("pause/resume are idempotent and survive stop-reading", () => {
  const { conn, channel } = setup();
  conn.pause();
  conn.pause();
  assert(channel.paused);
  conn.resume();
  assert(!channel.paused);
  conn.destroy();
  conn.resume();
  assert(channel.paused, "resume after destroy does not restart reading");
});
