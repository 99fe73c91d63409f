/**
 * Prometheus metrics (zot's `extensions.metrics`), with prom-client on a registry of this app's own
 * (two apps in one process, as in tests, never share counters). Request metrics are labelled by
 * route template, never by URL, so repository names do not explode the series count; only the
 * per-repository storage gauges carry repository names.
 */
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram, Registry as PromRegistry, collectDefaultMetrics } from 'prom-client';
import type { Collection } from '../maintenance/garbage-collector.js';
import type { ScrubResult } from '../maintenance/scrub.js';
import type { RepositoryFigures } from '../browse/repository-figures.js';
import type { MetricEvents } from './metric-events.js';
import type { EventsObserver } from '../events/events.js';
import type { SyncObserver } from '../sync/pull-through.js';

/** Loaded (by app.ts, with `import()`) only when `extensions.metrics` is on. */
export class BerthMetrics implements MetricEvents {
  readonly registry = new PromRegistry();
  readonly requests = new Counter({
    name: 'berth_http_requests_total',
    help: 'HTTP requests by method, route template and status',
    labelNames: ['method', 'route', 'status'],
    registers: [this.registry],
  });
  readonly latency = new Histogram({
    name: 'berth_http_request_duration_seconds',
    help: 'HTTP request latency by method, route template and status',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120],
    registers: [this.registry],
  });
  readonly bytesIn = new Counter({ name: 'berth_http_received_bytes_total', help: 'Request body bytes (by Content-Length)', labelNames: ['route'], registers: [this.registry] });
  readonly bytesOut = new Counter({ name: 'berth_http_sent_bytes_total', help: 'Response body bytes (by Content-Length)', labelNames: ['route'], registers: [this.registry] });
  readonly uploadsInProgress = new Gauge({ name: 'berth_uploads_in_progress', help: 'Upload request bodies being received now', registers: [this.registry] });
  readonly authentications = new Counter({
    name: 'berth_authentications_total',
    help: 'Sign-ins and credential checks by method and result',
    labelNames: ['method', 'result'],
    registers: [this.registry],
  });
  readonly signInBlocked = new Counter({
    name: 'berth_sign_in_blocked_total',
    help: 'Sign-in attempts refused unchecked by the sign-in limits: scope "account" (one account from one address), "address" (names never signed in from a spraying address)',
    labelNames: ['scope'],
    registers: [this.registry],
  });
  readonly gcRuns = new Counter({ name: 'berth_gc_runs_total', help: 'Garbage collections by result', labelNames: ['result'], registers: [this.registry] });
  readonly gcRemoved = new Counter({ name: 'berth_gc_removed_total', help: 'Items garbage collection removed', labelNames: ['kind'], registers: [this.registry] });
  readonly gcBytesFreed = new Counter({ name: 'berth_gc_freed_bytes_total', help: 'Bytes garbage collection gave back to the disk', registers: [this.registry] });
  readonly scrubImages = new Gauge({ name: 'berth_scrub_images', help: 'Images by status at the last scrub', labelNames: ['status'], registers: [this.registry] });
  private readonly eventsDelivered = new Counter({ name: 'berth_events_delivered_total', help: 'Events a sink accepted, per sink', labelNames: ['sink'], registers: [this.registry] });
  private readonly eventsFailed = new Counter({ name: 'berth_events_failed_total', help: 'Failed delivery attempts (each retry counts), per sink', labelNames: ['sink'], registers: [this.registry] });
  private readonly eventsDropped = new Counter({
    name: 'berth_events_dropped_total',
    help: 'Events given up on (older than deliveryMaxAge, or refused by the sink with a 4xx), per sink',
    labelNames: ['sink'],
    registers: [this.registry],
  });
  private readonly eventsLatency = new Histogram({
    name: 'berth_events_delivery_seconds',
    help: 'From the write to the sink accepting its event, per sink',
    labelNames: ['sink'],
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 600, 3600],
    registers: [this.registry],
  });
  private readonly eventsPending = new Gauge({ name: 'berth_events_pending', help: 'Events in the outbox not yet delivered to a sink, per sink', labelNames: ['sink'], registers: [this.registry] });
  private eventsBacklog: (() => Promise<Array<{ sink: string; pending: number }>>) | undefined;
  /** What the events module reports, per sink label. */
  readonly events: EventsObserver = {
    delivered: (sink, seconds) => {
      this.eventsDelivered.inc({ sink });
      this.eventsLatency.observe({ sink }, seconds);
    },
    failed: (sink) => this.eventsFailed.inc({ sink }),
    dropped: (sink) => this.eventsDropped.inc({ sink }),
  };

  private readonly syncServed = new Counter({
    name: 'berth_sync_pulls_total',
    help: 'Pulls in mirrored repositories, by kind (manifest, blob) and outcome (hit: served from what Berth holds; miss: fetched from an upstream)',
    labelNames: ['kind', 'outcome'],
    registers: [this.registry],
  });
  private readonly syncFetchedBytes = new Counter({
    name: 'berth_sync_fetched_bytes_total',
    help: 'Bytes fetched from an upstream and stored, by upstream and kind',
    labelNames: ['upstream', 'kind'],
    registers: [this.registry],
  });
  private readonly syncFailures = new Counter({
    name: 'berth_sync_failures_total',
    help: 'Upstream fetches that failed, by upstream and how (not-found, unauthorized, denied, unavailable, invalid, digest-mismatch, interrupted)',
    labelNames: ['upstream', 'failure'],
    registers: [this.registry],
  });
  private readonly syncChecks = new Counter({
    name: 'berth_sync_tag_checks_total',
    help: 'Freshness checks of cached tags, by upstream and outcome (same, moved, absent: pushed here, not upstream; unreachable)',
    labelNames: ['upstream', 'outcome'],
    registers: [this.registry],
  });
  /** What the pull-through cache reports. */
  readonly sync: SyncObserver = {
    served: (kind, outcome) => this.syncServed.inc({ kind, outcome }),
    fetched: (upstream, kind, bytes) => this.syncFetchedBytes.inc({ upstream, kind }, bytes),
    failed: (upstream, failure) => this.syncFailures.inc({ upstream, failure }),
    checked: (upstream, outcome) => this.syncChecks.inc({ upstream, outcome }),
  };

  /** The per-sink backlog to show as `berth_events_pending`, read at each scrape. */
  observeEventBacklog(read: () => Promise<Array<{ sink: string; pending: number }>>): void {
    this.eventsBacklog = read;
  }

  private readonly repositoryBytes = new Gauge({ name: 'berth_repository_bytes', help: 'Bytes a repository references, each blob once', labelNames: ['repository'], registers: [this.registry] });
  private readonly repositoryTags = new Gauge({ name: 'berth_repository_tags', help: 'Tags per repository', labelNames: ['repository'], registers: [this.registry] });
  private readonly repositoryManifests = new Gauge({ name: 'berth_repository_manifests', help: 'Manifests per repository', labelNames: ['repository'], registers: [this.registry] });
  private readonly repositoryLastPush = new Gauge({
    name: 'berth_repository_last_push_seconds',
    help: 'Time of the newest push per repository',
    labelNames: ['repository'],
    registers: [this.registry],
  });

  constructor(repositories?: () => Promise<Array<RepositoryFigures & { manifestCount: number }>>) {
    collectDefaultMetrics({ register: this.registry, prefix: 'berth_' });
    // Both series exist from the start, so an alert on their rate has something to read.
    for (const scope of ['account', 'address']) this.signInBlocked.inc({ scope }, 0);
    this.repositories = repositories;
  }

  private readonly repositories: (() => Promise<Array<RepositoryFigures & { manifestCount: number }>>) | undefined;

  /** The exposition text; per-repository figures are computed now, as they change with every push. */
  async exposition(): Promise<string> {
    if (this.repositories) {
      const figures = await this.repositories();
      for (const gauge of [this.repositoryBytes, this.repositoryTags, this.repositoryManifests, this.repositoryLastPush]) gauge.reset();
      for (const item of figures) {
        this.repositoryBytes.set({ repository: item.name }, item.size);
        this.repositoryTags.set({ repository: item.name }, item.tagCount);
        this.repositoryManifests.set({ repository: item.name }, item.manifestCount);
        // Prometheus' unit for time: seconds since the epoch.
        if (item.lastPush !== undefined) this.repositoryLastPush.set({ repository: item.name }, item.lastPush.getTime() / 1000);
      }
    }
    // Unreadable now (Redis down, for a shared outbox): the gauge keeps its last value.
    const backlog = this.eventsBacklog ? await this.eventsBacklog().catch(() => []) : [];
    for (const item of backlog) this.eventsPending.set({ sink: item.sink }, item.pending);
    return this.registry.metrics();
  }

  recordCollection(outcome: Collection | Error): void {
    if (outcome instanceof Error) {
      this.gcRuns.inc({ result: 'failure' });
      return;
    }
    this.gcRuns.inc({ result: 'success' });
    for (const item of outcome.repositories) {
      this.gcRemoved.inc({ kind: 'tag' }, item.tags.length);
      this.gcRemoved.inc({ kind: 'manifest' }, item.manifests.length);
      this.gcRemoved.inc({ kind: 'blob' }, item.blobs.length);
      this.gcRemoved.inc({ kind: 'upload' }, item.uploads.length);
    }
    this.gcBytesFreed.inc(outcome.bytesFreed);
  }

  recordScrub(results: ScrubResult[]): void {
    this.scrubImages.set({ status: 'ok' }, results.filter((result) => result.status === 'ok').length);
    this.scrubImages.set({ status: 'affected' }, results.filter((result) => result.status === 'affected').length);
  }

  /** Counts requests as they finish: by route template, so cardinality stays bounded. */
  observe(app: FastifyInstance): void {
    app.addHook('onRequest', async (request) => {
      if (
        request.method === 'PATCH' ||
        (request.method === 'PUT' && request.routeOptions.url?.includes('/blobs/uploads/')) ||
        (request.method === 'POST' && request.routeOptions.url?.includes('/blobs/uploads/'))
      ) {
        this.uploadsInProgress.inc();
        request.raw.once('close', () => this.uploadsInProgress.dec());
      }
    });
    app.addHook('onResponse', async (request, reply) => {
      const route = request.routeOptions.url ?? 'unmatched';
      const labels = { method: request.method, route, status: String(reply.statusCode) };
      this.requests.inc(labels);
      this.latency.observe(labels, reply.elapsedTime / 1000);
      const received = Number(request.headers['content-length'] ?? 0);
      if (received > 0) this.bytesIn.inc({ route }, received);
      const sent = Number(reply.getHeader('content-length') ?? 0);
      if (sent > 0 && request.method !== 'HEAD') this.bytesOut.inc({ route }, sent);
    });
  }
}
