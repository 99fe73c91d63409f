/**
 * Builds the Berth application for a loaded config. It never listens: main.ts (or a test) does,
 * so the same app runs in production and under test.
 */
import cookie from '@fastify/cookie';
import Fastify, { type FastifyInstance, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import type { BerthConfig } from './config/config.js';
import { watchConfig } from './config/watch-config.js';
import { openBackends } from './backends.js';
import { Registry } from './registry/registry.js';
import type { PullThrough } from './sync/pull-through.js';
import type { PeriodicSync } from './sync/periodic.js';
import { Maintenance, startMaintenance } from './maintenance/maintenance.js';
import { RepositoryStatistics } from './browse/repository-stats.js';
import { summarizeCollection } from './maintenance/gc-report.js';
import { DECLARED_PREFIXES, enforceAccess, requireDeclaredAccess } from './http/access.js';
import { Security } from './auth/security.js';
import { WorkloadTokens } from './workload/workload-tokens.js';
import { tokenRoutes } from './http/routes/token.js';
import { answerClientError, installErrorHandling, type NotFoundPage } from './http/errors.js';
import { registryPlugin } from './http/registry-plugin.js';
import { rewriteRegistryUrl } from './http/rewrite-url.js';
import { baseRoutes } from './http/routes/base.js';
import { blobRoutes } from './http/routes/blobs.js';
import { catalogRoutes } from './http/routes/catalog.js';
import { manifestRoutes } from './http/routes/manifests.js';
import { referrerRoutes } from './http/routes/referrers.js';
import { tagRoutes } from './http/routes/tags.js';
import { uploadRoutes } from './http/routes/uploads.js';
import { apiKeyRoutes } from './http/routes/api-keys.js';
import { authMethodRoutes } from './http/routes/auth-methods.js';
import { signInRoutes } from './http/routes/sign-in.js';
import { healthRoutes } from './http/routes/health.js';
import { NO_METRICS, type MetricEvents } from './http/metric-events.js';
import { auditRequests, openAuditLog, requireAuditedWrites } from './http/audit.js';
import { limitRate } from './http/rate-limit.js';
import { SignInLimits } from './auth/sign-in-limits.js';
import { followTls, readTls } from './http/tls.js';
import { BODY_TIME_LIMITS, limitBodyTime, type BodyTimeLimits } from './http/body-time.js';
import type { Server as HttpsServer } from 'node:https';

export interface BuildOptions {
  /** `false` silences the log; an object overrides the level or destination of `config.log`. */
  logger?: false | { level?: string; stream?: NodeJS.WritableStream };
  /** Follow the config file and apply changes live (on by default; `app.reloadConfig()` forces one). */
  watchConfig?: boolean;
  /** Proxies whose X-Forwarded-* headers count (`TRUST_PROXY`): true, or addresses and CIDRs. */
  trustProxy?: boolean | string[];
  /** How long request bodies may take (tests shorten them). */
  bodyTime?: BodyTimeLimits;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Re-reads the config file and applies what can change live (SIGHUP does this). */
    reloadConfig(): Promise<void>;
    metrics: MetricEvents;
  }
}

/** Settings that are read once at start; a change is logged as needing a restart. */
const RESTART_ONLY: Array<[string, (config: BerthConfig) => unknown]> = [
  ['http.address', (config) => config.http.address],
  ['http.port', (config) => config.http.port],
  ['storage.rootDirectory', (config) => config.storage.rootDirectory],
  ['http.externalUrl', (config) => config.http.externalUrl],
  ['extensions.events', (config) => JSON.stringify(config.extensions.events ?? null)],
  [
    'extensions.sync',
    (config) => JSON.stringify(config.extensions.sync ?? null, (_key, value: unknown) => (value instanceof Map ? [...value.keys()] : value instanceof RegExp ? String(value) : value)),
  ],
];

function loggerFor(config: BerthConfig, override: BuildOptions['logger']): FastifyServerOptions['logger'] {
  if (override === false) return false;
  return {
    level: override?.level ?? config.log.level,
    // Credentials never reach the log, whatever a log line includes.
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]'], censor: '[redacted]' },
    serializers: { req: serializeRequest },
    ...(override?.stream ? { stream: override.stream } : config.log.output ? { file: config.log.output } : {}),
  };
}

/**
 * What a request log line shows: the URL as the client sent it, except the query of the sign-in
 * callback, which carries the authorization code and state.
 */
function serializeRequest(request: FastifyRequest) {
  const url = request.originalUrl ?? request.url;
  return {
    method: request.method,
    url: url.startsWith('/zot/auth/callback/') ? url.replace(/\?.*$/, '?[redacted]') : url,
    remoteAddress: request.ip,
  };
}

export async function buildApp(config: BerthConfig, options: BuildOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    ...(config.http.tls ? { https: readTls(config.http.tls) } : {}),
    ...(options.trustProxy !== undefined ? { trustProxy: options.trustProxy } : {}),
    logger: loggerFor(config, options.logger),
    rewriteUrl: (request) => rewriteRegistryUrl(request.url ?? '/'),
    // Blob bodies stream for as long as they need; slow clients are bounded by the header timeout.
    requestTimeout: 0,
    return503OnClosing: true,
    exposeHeadRoutes: false,
    clientErrorHandler: answerClientError,
    routerOptions: { ignoreDuplicateSlashes: false, maxParamLength: 1024 },
  });
  for (const warning of config.warnings) app.log.warn(warning);

  // Bodies are never parsed by Fastify: blobs stream to storage, manifests are read as exact bytes.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));

  const log = {
    info: (message: string) => app.log.info(message),
    warn: (message: string) => app.log.warn(message),
    error: (message: string) => app.log.error(message),
  };
  const backends = await openBackends(config, log);
  app.addHook('onClose', async () => backends.close());
  // index.json of every repository up to date before serving (what a crash left in a journal).
  await backends.store.flush();
  // Shared cookie keys and sessions are read from Redis at start: let it answer first.
  await backends.connect();
  const workload = new WorkloadTokens(config, backends.sessions);
  const security = await Security.create(config, log, { coordination: backends.sessions, bearer: workload });
  await app.register(cookie);
  app.addHook('onClose', async () => security.close());
  // The UI, when on, answers a browser's unknown address with a page (registered further down).
  let notFoundPage: NotFoundPage | undefined;
  installErrorHandling(
    app,
    () => security,
    () => notFoundPage,
  );
  requireDeclaredAccess(app);
  requireAuditedWrites(app, DECLARED_PREFIXES);
  // prom-client and the metrics routes load only when the config asks for metrics (read at start).
  const exporter = config.extensions.metrics ? new (await import('./http/metrics.js')).BerthMetrics(() => statistics.all()) : undefined;
  const metrics: MetricEvents = exporter ?? NO_METRICS;
  app.decorate('metrics', metrics);
  exporter?.observe(app);
  limitBodyTime(app, options.bodyTime ?? BODY_TIME_LIMITS);
  if (config.http.rateLimit) limitRate(app, config.http.rateLimit);
  const auditLog = config.log.audit ? openAuditLog(config.log.audit) : undefined;
  if (auditLog) auditRequests(app, auditLog);
  // Counted where sessions live: in Redis when replicas share it, so a guess on one counts on all.
  app.decorate('signInLimits', new SignInLimits(backends.sessions.counters('sign-in'), { shared: backends.sessions.shared, log }));
  enforceAccess(app, () => security, {
    authenticated: (method, result) => metrics.authentications.inc({ method, result }),
  });
  app.addHook('onRequest', async (_request, reply) => {
    reply.header('docker-distribution-api-version', 'registry/2.0');
  });

  let running = config;
  const registry = new Registry(backends.store);
  const services = new Maintenance(registry, () => ({ gcDelayMs: running.storage.gcDelayMs, retention: running.storage.retention }));
  const statistics = new RepositoryStatistics(backends.store);
  // Replicas take turns: a round runs on whichever holds the lock, the others skip it.
  const maintenance = startMaintenance(
    services,
    () => running,
    (key, work) => backends.coordination.locks.tryRun(key, work),
    {
      collected(outcome) {
        metrics.recordCollection(outcome);
        if (outcome instanceof Error) app.log.error({ err: outcome }, 'garbage collection failed');
        else app.log.info(summarizeCollection(outcome), 'garbage collection');
      },
      scrubbed(outcome) {
        if (outcome instanceof Error) return app.log.error({ err: outcome }, 'scrub failed');
        metrics.recordScrub(outcome);
        for (const result of outcome.filter((item) => item.status === 'affected')) app.log.error(result, 'scrub: image affected');
        app.log.info({ images: outcome.length, affected: outcome.filter((item) => item.status === 'affected').length }, 'scrub');
      },
    },
  );
  app.addHook('onClose', async () => maintenance.stop());
  if (config.extensions.events) {
    // The events module (cloudevents, nats) loads only when the config turns events on.
    const { Events, UNOBSERVED } = await import('./events/events.js');
    const place = { storageRoot: config.storage.rootDirectory, coordination: backends.coordination };
    const events = await Events.open(config.extensions.events, place, exporter?.events ?? UNOBSERVED, app.log.child({ component: 'events' }));
    exporter?.observeEventBacklog(() => events.pending());
    registry.manifests.afterWrite((writes) => events.record(writes));
    app.addHook('onReady', async () => events.start());
    app.addHook('onClose', async () => events.close());
  }
  let pullThrough: PullThrough | undefined;
  let periodicSync: PeriodicSync | undefined;
  if (config.extensions.sync && config.extensions.sync.registries.length > 0) {
    // The sync module loads only when the config has an upstream.
    const [sync, periodic] = await Promise.all([import('./sync/pull-through.js'), import('./sync/periodic.js')]);
    const log = app.log.child({ component: 'sync' });
    const cache = new sync.PullThrough(config.extensions.sync, registry, log, exporter?.sync);
    // What a round copies is a state change no request made: each copy gets its own audit line.
    const audit = auditLog ? (facts: object) => auditLog.info({ event: 'sync-copy', outcome: 'ok', user: 'sync', via: 'sync', ...facts }) : undefined;
    const rounds = periodic.startPeriodicSync(cache, (key, work) => backends.coordination.locks.tryRun(key, work), log, audit);
    app.addHook('onClose', async () => {
      await rounds.stop();
      await cache.close();
    });
    pullThrough = cache;
    periodicSync = rounds;
  }
  app.decorate('pullThrough', pullThrough);
  app.decorate('periodicSync', periodicSync);
  await app.register(registryPlugin, { registry, maintenance: services });
  await app.register(healthRoutes, { checks: backends.readiness });
  if (exporter && config.extensions.metrics) await app.register((await import('./http/routes/metrics.js')).metricsRoutes, { metrics: exporter, path: config.extensions.metrics.path });
  await app.register(baseRoutes);
  await app.register(catalogRoutes);
  await app.register(tagRoutes);
  await app.register(manifestRoutes);
  await app.register(blobRoutes);
  await app.register(uploadRoutes);
  await app.register(referrerRoutes);
  await app.register(authMethodRoutes);
  await app.register(signInRoutes);
  await app.register(apiKeyRoutes);
  await app.register(tokenRoutes, { tokens: workload });
  // The web UI (pages, its API, assets) loads only when the config turns it on (read at start).
  if (config.extensions.ui) notFoundPage = await (await import('./http/routes/ui.js')).registerUi(app);

  const applyConfig = async (next: BerthConfig) => {
    await security.apply(next);
    workload.apply(next);
    app.log.level = next.log.level;
    for (const [key, read] of RESTART_ONLY) {
      if (read(next) !== read(running)) app.log.warn(`${next.file}: ${key} changed; it takes effect after a restart`);
    }
    running = next;
    app.log.info(`${next.file}: configuration reloaded`);
  };
  const reportInvalid = (problems: string[]) => app.log.error({ problems }, 'the changed configuration is invalid; keeping the running one');
  const watcher = watchConfig(config.file, options.watchConfig !== false, applyConfig, reportInvalid);
  app.decorate('reloadConfig', watcher.reload);
  app.addHook('onClose', async () => watcher.close());

  if (config.http.tls) {
    const stop = followTls(app.server as HttpsServer, config.http.tls, { info: (message) => app.log.info(message), error: (message) => app.log.error(message) });
    app.addHook('onClose', async () => stop());
  }
  app.server.headersTimeout = config.http.readTimeoutMs;
  return app;
}
