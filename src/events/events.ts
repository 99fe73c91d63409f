/**
 * zot's `extensions.events`, delivered at least once. Manifest writes become CloudEvents in the
 * durable outbox before the client is answered (the registry awaits `record`); one loop per sink
 * then delivers them in outbox order (so in order per repository), retrying with exponential backoff
 * (0.5 s doubling to 30 s, with jitter) until the sink accepts or the event is older than
 * `deliveryMaxAge`, when it is logged and counted as dropped. A sink that refuses an event outright
 * (a 4xx other than 408/429) gets the next one: retrying cannot change its mind. A sink that is down
 * holds its own queue only; pushes and the other sinks go on.
 */
import path from 'node:path';
import type { EventsConfig } from '../config/config.js';
import type { ManifestWrite } from '../registry/manifest-writes.js';
import { fromStored, toCloudEvent } from './cloud-event.js';
import { HttpSink } from './http-sink.js';
import { NatsSink } from './nats-sink.js';
import { FsOutbox, type OutboxReader, type OutboxRecord } from './outbox.js';
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

interface SinkLoop {
  label: string;
  sink: Sink;
  reader: OutboxReader;
}

export class Events {
  private stopped = false;
  private readonly running: Promise<void>[] = [];
  private readonly wake = new Set<() => void>();

  private constructor(
    private readonly config: EventsConfig,
    private readonly outbox: FsOutbox,
    private readonly loops: SinkLoop[],
    private readonly observer: EventsObserver,
    private readonly log: EventsLog,
  ) {}

  /** Opens the outbox under `storageRoot` and each sink's cursor; call `start()` to deliver. */
  static async open(config: EventsConfig, storageRoot: string, observer: EventsObserver, log: EventsLog): Promise<Events> {
    const outbox = await FsOutbox.open(path.join(storageRoot, OUTBOX_FOLDER));
    const loops: SinkLoop[] = [];
    for (const sink of config.sinks) {
      loops.push({ label: sinkLabel(sink), sink: sink.type === 'http' ? new HttpSink(sink) : new NatsSink(sink), reader: await outbox.reader(sinkKey(sink)) });
    }
    return new Events(config, outbox, loops, observer, log);
  }

  /** Records the events of one durable write; resolves once they are on disk. */
  async record(writes: ManifestWrite[]): Promise<void> {
    if (this.loops.length === 0) return;
    await this.outbox.append(writes.map((write) => toCloudEvent(write, this.config)));
  }

  /** Events not yet delivered (nor dropped), per sink label. */
  pending(): Array<{ sink: string; pending: number }> {
    return this.loops.map((loop) => ({ sink: loop.label, pending: loop.reader.pending }));
  }

  start(): void {
    for (const loop of this.loops) this.running.push(this.deliver(loop));
  }

  async close(): Promise<void> {
    this.stopped = true;
    for (const wake of this.wake) wake();
    this.outbox.wakeAll();
    await Promise.all(this.running);
    await Promise.all(this.loops.map((loop) => loop.reader.save().catch(() => undefined)));
    await Promise.all(this.loops.map((loop) => loop.sink.close()));
    await this.outbox.close();
  }

  private async deliver(loop: SinkLoop): Promise<void> {
    while (!this.stopped) {
      let record: OutboxRecord | undefined;
      try {
        record = await loop.reader.next();
      } catch (error) {
        this.log.error({ sink: loop.label, err: error }, 'events: cannot read the outbox');
        await this.pause(LAST_BACKOFF_MS);
        continue;
      }
      if (!record) {
        await loop.reader.save().catch((error: unknown) => this.log.error({ sink: loop.label, err: error }, 'events: cannot save the cursor (the event may be sent again)'));
        await this.outbox.waitForAppend(IDLE_POLL_MS);
        continue;
      }
      await this.deliverOne(loop, record);
    }
  }

  /** Tries one record until it is accepted, refused for good, or too old; then moves the cursor past it. */
  private async deliverOne(loop: SinkLoop, record: OutboxRecord): Promise<void> {
    const facts = { sink: loop.label, id: record.event.id, type: record.event.type };
    for (let attempt = 0; !this.stopped; attempt++) {
      if (Date.now() - record.at > this.config.deliveryMaxAgeMs) {
        this.observer.dropped(loop.label);
        this.log.error({ ...facts, attempts: attempt }, 'events: dropped, older than deliveryMaxAge');
        return this.commit(loop, record);
      }
      try {
        await loop.sink.send(fromStored(record.event));
        this.observer.delivered(loop.label, (Date.now() - record.at) / 1000);
        return this.commit(loop, record);
      } catch (error) {
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
      if (record.seq % 1000 === 0) await this.outbox.prune(this.loops.map((item) => item.reader.savedPosition));
    } catch (error) {
      this.log.error({ sink: loop.label, err: error }, 'events: cannot save the cursor (the event may be sent again)');
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake.add(done);
    });
  }
}
