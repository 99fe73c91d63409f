# Berth: an OCI registry with native OpenID Connect login, configured with zot's zot.json.
#
#   docker build -t berth .
#   docker run -p 5000:5000 -v berth-data:/var/lib/berth berth
#
# Three stages: `build` compiles TypeScript (and copies the UI's static files into dist/),
# `deps` installs the production dependencies only, and the runtime stage takes dist/, those
# node_modules and the folders Berth reads at run time (schemas/, package.json) onto the slim image.
# The runtime runs as the unprivileged `node` user (uid 1000) and writes only to /var/lib/berth,
# so it also runs with a read-only root filesystem (give it a writable /tmp).
# Node 24 LTS, the major of the runtime package.json pins for npm scripts (node-linux-*, optional
# dependencies); the image brings its own node, so both installs leave those out (--omit=optional).
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --omit=optional --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM ${NODE_IMAGE} AS deps
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --omit=optional --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
# Owned by root and read-only for the `node` user: the program cannot rewrite itself.
COPY --from=deps /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
COPY schemas ./schemas
COPY config/zot-container.json /etc/berth/zot.json
RUN mkdir -p /var/lib/berth && chown node:node /var/lib/berth && chmod 0700 /var/lib/berth
USER node
VOLUME /var/lib/berth
EXPOSE 5000
# Berth stops accepting on SIGTERM, lets requests in flight finish (30 s at most) and exits.
STOPSIGNAL SIGTERM
# The slim image has no curl: ask node itself. Override BERTH_HEALTHCHECK_URL when the config
# listens elsewhere (another port, or https with http.tls).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.BERTH_HEALTHCHECK_URL || 'http://127.0.0.1:5000/livez', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# A young generation of 2 x 4 MiB: Node 24 lets it grow to 128 MiB, most of Berth's resident memory
# under load (docs/operations.md); the npm start script passes the same flag.
ENTRYPOINT ["node", "--max-semi-space-size=4", "--expose-gc", "/app/dist/main.js"]
CMD ["serve", "/etc/berth/zot.json"]
