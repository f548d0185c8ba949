/**
 * The end of a session: what happens to its will, its routes, its inbox and
 * its client-id ownership, by {@link EndReason}.
 *
 * - will: discarded on normal DISCONNECT and on broker shutdown (as
 *   mosquitto); otherwise published at once, or after
 *   min(will delay, session expiry) for a persistent session (cancelled if the
 *   session resumes first, published at once if it is cleanly restarted).
 * - transient session: its routes are removed.
 * - persistent session: the inbox is detached (expiry starts; deleted at once
 *   when the expiry is 0, then its routes are removed too) — except when taken
 *   over, where the new connection owns the inbox already.
 *
 * @module
 */
import type { EndReason, Session } from "./session.ts";
import { releasePublishers } from "./backpressure.ts";

/** Cleans up after `s` ended; `wasConnected` = CONNACK had been sent. */
export function sessionEnded(s: Session, reason: EndReason, wasConnected: boolean): void {
  const ctx = s.ctx;
  s.out?.dispose();
  releasePublishers(s);
  if (ctx.connections.get(s.conn.id) === s) ctx.connections.delete(s.conn.id);
  if (!wasConnected) return; // connect.ts undoes a half-done CONNECT itself
  ctx.counters.connections--;
  if (ctx.receivers.get(s.receiverId) === s) ctx.receivers.delete(s.receiverId);
  const will = s.will;
  s.will = null;
  const now = ctx.nowMs();
  if (will !== null && reason !== "disconnect" && reason !== "shutdown") {
    const delaySeconds = Math.min(
      will.properties.willDelayInterval ?? 0,
      ctx.options.maxWillDelaySeconds,
    );
    const sessionEnds = !s.persistent || (s.sessionExpirySeconds === 0 && reason !== "taken-over");
    if (delaySeconds === 0 || sessionEnds) {
      ctx.publishWill(will, s.aclContext, s.receiverId);
    } else {
      ctx.pendingWills.set(s.keyString, {
        will,
        acl: s.aclContext,
        receiverId: s.receiverId,
        dueMs: now + Math.min(delaySeconds, s.sessionExpirySeconds) * 1000,
      });
    }
  }
  const subs = s.subscriptions;
  if (!s.persistent) {
    if (subs !== null && subs.size > 0) {
      ctx.track(ctx.dist.removeRoutes(s.routeRemovals(subs.keys())), "dist.removeRoutes");
    }
  } else if (reason !== "taken-over") {
    ctx.track(
      ctx.inbox.detach(s.clientKey, s.incarnation, s.sessionExpirySeconds, now),
      "inbox.detach",
    );
    if (s.sessionExpirySeconds === 0) {
      ctx.sentHighWater.delete(s.keyString);
      if (subs !== null && subs.size > 0) {
        ctx.track(ctx.dist.removeRoutes(s.routeRemovals(subs.keys())), "dist.removeRoutes");
      }
    }
  }
  if (s.owner !== null) ctx.track(ctx.sessions.release(s.clientKey, s.owner), "sessions.release");
  ctx.log.debug("session.closed", { clientId: s.clientId, reason });
}
