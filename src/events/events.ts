/**
 * zot's `extensions.events`, delivered at least once. Manifest writes become CloudEvents in the
 * durable outbox before the client is answered (the registry awaits `record`, called under the
 * repository's lock so the outbox keeps each repository's order); one loop per sink then delivers
 * them in outbox order, retrying with exponential backoff (0.5 s doubling to 30 s, with jitter)
 * until the sink accepts or the event is older than `deliveryMaxAge`, when it is logged and counted
 * as dropped. A sink that refuses an event outright (a 4xx other than 408/429) gets the next one:
 * retrying cannot change its mind. A sink that is down holds its own queue only; pushes and the
 * other sinks go on.
 *
 * The outbox is on the local disk (outbox.ts), or in Redis when replicas share it (shared-outbox.ts):
 * then one replica at a time delivers to a sink, in turns of at most a minute, and another takes over
 * from the saved position when it dies.
 */
import path from 'node:path';
import type { EventsConfig } from '../config/config.js';
import type { Coordination } from '../coordination/coordination.js';
import type { ManifestWrite } from '../registry/manifest-writes.js';
import { toCloudEvent } from './cloud-event.js';
import { HttpSink } from './http-sink.js';
import { NatsSink } from './nats-sink.js';
import { FsOutbox } from './outbox.js';
import { Waiters } from '../coordination/waiters.js';
import type { Outbox, OutboxReader, OutboxRecord } from './outbox-api.js';
import { SharedOutbox } from './shared-outbox.js';
import { DeliveryError, sinkKey, sinkLabel, type Sink } from './sink.js';

/** Where the outbox lives under the storage root (`_berth` is no valid repository name). */
export const OUTBOX_FOLDER = path.join('_berth', 'events');

/** What the events module reports, for /metrics (labels: the sink's `type:host/path`). */
export interface EventsObserver {
  delivered(sink: string, seconds: number): void;
  failed(sink: string): void;
  dropped(sink: string): void;
}

/** No /metrics: nothing to report to. */
export const UNOBSERVED: EventsObserver = { delivered: () => undefined, failed: () => undefined, dropped: () => undefined };

export interface EventsLog {
  info(facts: object, message: string): void;
  warn(facts: object, message: string): void;
  error(facts: object, message: string): void;
}

const FIRST_BACKOFF_MS = 500;
const LAST_BACKOFF_MS = 30_000;
const IDLE_POLL_MS = 1000;
/** How often a sink that keeps up saves its position: a crash in between means a redelivery, not a loss. */
const SAVE_EVERY_MS = 250;
/**
 * A turn at delivering to a sink: after it, the loop lets go and asks again, so with replicas
 * another replica can take the sink over. A replica whose lock may have expired (its renewals
 * failed) stops before the turn ends. Alone, a new turn just goes on.
 */
const TURN_MS = 60_000;
/**
 * A sink whose position no replica read or saved for this long (or for deliveryMaxAge, if longer:
 * its events may still be delivered until then) is taken as removed from the config.
 */
const FORGET_SINK_AFTER_MS = 24 * 3_600_000;
/** How often a replica that is not delivering to a sink checks whether the one that is went away. */
const STANDBY_POLL_MS = 2_000;

interface SinkLoop {
  key: string;
  label: string;
  sink: Sink;
  reader: OutboxReader;
  /** When the loop last saved its position (ms). */
  savedAt: number;
}

/** Where the outbox is: under the storage root, or in the coordination replicas share. */
export interface OutboxPlace {
  storageRoot: string;
  coordination: Coordination;
}

export class Events {
  private stopped = false;
  private readonly running: Promise<void>[] = [];
  /** Backoff pauses, ended early at shutdown. */
  private readonly pauses = new Waiters();

  private constructor(
    private readonly config: EventsConfig,
    private readonly outbox: Outbox,
    private readonly loops: SinkLoop[],
    private readonly observer: EventsObserver,
    private readonly log: EventsLog,
  ) {}

  /**
   * Opens the outbox (in Redis when the coordination is shared and offers a shared log, else under
   * the storage root) and each sink's position; call `start()` to deliver.
   */
  static async open(config: EventsConfig, place: OutboxPlace, observer: EventsObserver, log: EventsLog): Promise<Events> {
    const { coordination } = place;
    const outbox: Outbox =
      coordination.shared && coordination.sharedLog
        ? new SharedOutbox(coordination.sharedLog('events'), coordination.locks, Math.max(FORGET_SINK_AFTER_MS, config.deliveryMaxAgeMs))
        : await FsOutbox.open(path.join(place.storageRoot, OUTBOX_FOLDER));
    const loops: SinkLoop[] = [];
    for (const [at, sink] of config.sinks.entries()) {
      const key = sinkKey(sink);
      // Two sinks whose addresses differ only in what labels leave out (the query) are told apart by place.
      const label = loops.some((loop) => loop.label === sinkLabel(sink)) ? `${sinkLabel(sink)}#${at + 1}` : sinkLabel(sink);
      loops.push({ key, label, sink: sink.type === 'http' ? new HttpSink(sink) : new NatsSink(sink), reader: await outbox.reader(key), savedAt: 0 });
    }
    return new Events(config, outbox, loops, observer, log);
  }

  /** Records the events of one durable write; resolves once they are on disk. */
  async record(writes: ManifestWrite[]): Promise<void> {
    if (this.loops.length === 0) return;
    await this.outbox.append(writes.map((write) => toCloudEvent(write, this.config)));
  }

  /** Events not yet delivered (nor dropped), per sink label. */
  async pending(): Promise<Array<{ sink: string; pending: number }>> {
    return Promise.all(this.loops.map(async (loop) => ({ sink: loop.label, pending: await loop.reader.pending() })));
  }

  start(): void {
    for (const loop of this.loops) this.running.push(this.deliver(loop));
  }

  async close(): Promise<void> {
    this.stopped = true;
    this.pauses.wakeAll();
    this.outbox.wakeAll();
    // Cuts attempts in flight (a sink that hangs does not hold the shutdown for its timeout); an
    // event cut off is not marked done, so it is sent again after the restart.
    await Promise.all(this.loops.map((loop) => loop.sink.close()));
    await Promise.all(this.running);
    await Promise.all(this.loops.map((loop) => loop.reader.save().catch(() => undefined)));
    await this.outbox.close();
  }

  /** Turn after turn at delivering to one sink, while this process may (see `Outbox.exclusive`). */
  private async deliver(loop: SinkLoop): Promise<void> {
    while (!this.stopped) {
      try {
        const took = await this.outbox.exclusive(loop.key, (held) => this.turn(loop, Date.now() + TURN_MS, held));
        if (took === undefined) await this.pause(STANDBY_POLL_MS);
      } catch (error) {
        // The outbox cannot be read or the sink's lock cannot be reached (Redis down): try again later.
        this.log.error({ sink: loop.label, err: error }, 'events: cannot deliver from the outbox now; retrying');
        await this.pause(FIRST_BACKOFF_MS * 10);
      }
    }
  }

  /**
   * One turn: from the saved position, deliver in order until `until`, or until the turn may have
   * passed to another replica (`held()` false: its lock lost), so two never deliver at once for long.
   */
  private async turn(loop: SinkLoop, until: number, held: () => boolean): Promise<true> {
    await loop.reader.resume();
    while (!this.stopped && Date.now() < until && held()) {
      const record = await loop.reader.next();
      if (!record) {
        // Caught up: save the position, yet at most every SAVE_EVERY_MS; a sink that keeps up would
        // otherwise write its cursor once per event.
        const since = Date.now() - loop.savedAt;
        if (since < SAVE_EVERY_MS) {
          await this.waitForAppend(SAVE_EVERY_MS - since);
          continue;
        }
        await this.save(loop);
        await this.waitForAppend(IDLE_POLL_MS);
        continue;
      }
      await this.deliverOne(loop, record, until, held);
    }
    await this.save(loop);
    return true;
  }

  private async save(loop: SinkLoop): Promise<void> {
    loop.savedAt = Date.now();
    await loop.reader.save().catch((error: unknown) => this.log.error({ sink: loop.label, err: error }, 'events: cannot save the position (events may be sent again)'));
  }

  /**
   * Tries one record until it is accepted, refused for good, or too old; then moves the position past
   * it. At the end of the turn it stops trying and leaves the record for the next turn.
   */
  private async deliverOne(loop: SinkLoop, record: OutboxRecord, until: number, held: () => boolean): Promise<void> {
    const facts = { sink: loop.label, id: record.event.id, type: record.event.type };
    for (let attempt = 0; !this.stopped && Date.now() < until && held(); attempt++) {
      if (Date.now() - record.at > this.config.deliveryMaxAgeMs) {
        this.observer.dropped(loop.label);
        this.log.error({ ...facts, attempts: attempt }, 'events: dropped, older than deliveryMaxAge');
        return this.commit(loop, record);
      }
      try {
        await loop.sink.send(record.event);
        this.observer.delivered(loop.label, (Date.now() - record.at) / 1000);
        return this.commit(loop, record);
      } catch (error) {
        // Cut off by the shutdown: no failure, and no pause that nothing would end (sent again after the restart).
        if (this.stopped) return;
        this.observer.failed(loop.label);
        const reason = error instanceof DeliveryError ? error.message : String(error);
        if (error instanceof DeliveryError && error.permanent) {
          this.observer.dropped(loop.label);
          this.log.error({ ...facts, reason }, 'events: the sink refused the event; dropped');
          return this.commit(loop, record);
        }
        // Once, then every tenth attempt: a long outage does not flood the log.
        if (attempt % 10 === 0) this.log.warn({ ...facts, attempt, reason }, 'events: delivery failed; retrying');
        const backoff = Math.min(LAST_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** attempt);
        await this.pause(backoff / 2 + Math.random() * (backoff / 2));
      }
    }
  }

  private async commit(loop: SinkLoop, record: OutboxRecord): Promise<void> {
    try {
      await loop.reader.commit(record);
      if (record.seq % 1000 === 0) await this.outbox.prune(this.loops.map((item) => item.reader));
    } catch (error) {
      this.log.error({ sink: loop.label, err: error }, 'events: cannot save the position (the event may be sent again)');
    }
  }

  /**
   * A backoff or standby pause; none once closed. close() wakes the pauses under way, but a loop
   * that was between two awaits then would begin one after it, and nothing would end it early.
   */
  private pause(ms: number): Promise<void> {
    return this.stopped ? Promise.resolve() : this.pauses.wait(ms);
  }

  /** Waits for the next append, or `ms`; not once closed (as `pause`). */
  private waitForAppend(ms: number): Promise<void> {
    return this.stopped ? Promise.resolve() : this.outbox.waitForAppend(ms);
  }
}
