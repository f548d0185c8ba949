/**
 * Reading control and publisher backpressure of sessions.
 *
 * A session stops reading its connection for any of several reasons (a
 * backlog while an asynchronous step runs, too many unacknowledged v3
 * publications, or a congested subscriber holding it); it resumes when none
 * is left. A congested subscriber (write() returned false) holds the
 * publishers that feed it until it drains; one congested for longer than
 * `slowSubscriberMs` is "slow": it releases them and gets QoS 0 dropped.
 *
 * @module
 */
import type { Session } from "./session.ts";

/** Reading paused: backlog while an asynchronous step runs. */
export const PAUSE_BACKLOG = 1;
/** Reading paused: too many unacknowledged v3 QoS 1/2 publications. */
export const PAUSE_ACKS = 2;
/** Publishers one congested subscriber may hold paused at once. */
export const MAX_BLOCKED_PUBLISHERS = 1024;

/** Adds a pause reason; pauses the connection on the first one. */
export function pauseReading(s: Session, reason: number): void {
  const was = s.pauseMask !== 0 || s.holds > 0;
  s.pauseMask |= reason;
  if (!was && !s.isClosed()) s.conn.pause();
}

/** Removes a pause reason; resumes the connection when none is left. */
export function resumeReading(s: Session, reason: number): void {
  if ((s.pauseMask & reason) === 0) return;
  s.pauseMask &= ~reason;
  if (s.pauseMask === 0 && s.holds === 0 && !s.isClosed()) s.conn.resume();
}

/** The write that made this connection congested (write() returned false). */
export function markCongested(s: Session): void {
  if (s.congested) return;
  s.congested = true;
  s.congestedSinceMs = s.ctx.nowMs();
}

/**
 * `publisher` sent a message the congested subscriber `s` could not take at
 * once: stop reading the publisher until `s` drains (or turns slow). Bounded
 * by {@link MAX_BLOCKED_PUBLISHERS}.
 */
export function holdPublisher(s: Session, publisher: Session): void {
  if (publisher === s || s.slow || publisher.isClosed()) return;
  const set = s.blockedPublishers ??= new Set();
  if (set.has(publisher) || set.size >= MAX_BLOCKED_PUBLISHERS) return;
  set.add(publisher);
  publisher.holds++;
  if (publisher.holds === 1 && publisher.pauseMask === 0) publisher.conn.pause();
}

/** Lets every publisher held by `s` read again. */
export function releasePublishers(s: Session): void {
  const set = s.blockedPublishers;
  if (set === null || set.size === 0) return;
  s.blockedPublishers = null;
  for (const p of set) {
    p.holds--;
    if (p.holds === 0 && p.pauseMask === 0 && !p.isClosed()) p.conn.resume();
  }
}

/** Congested for too long: stop holding publishers, drop QoS 0 to it instead. */
export function markSlow(s: Session): void {
  s.slow = true;
  releasePublishers(s);
}
