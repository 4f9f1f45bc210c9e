# The one costline image: every stage and the API run from it
# (`costline run STAGE…`, see compose.yaml). Production talks to a ClickHouse
# server (CLICKHOUSE_URL) and a NATS server (NATS_URL), so the embedded
# ClickHouse engine (the optional npm package chdb, about 550 MB) is left out.

FROM node:20.19.5-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY pipeline ./pipeline
COPY schemas ./schemas
# The compiled build (tsc, then esbuild bundles the CLI → dist/): the image runs JavaScript, no TypeScript
# transpiler. `npm install`, not `npm ci`: the lock records other platforms'
# optional packages in a way `npm ci` rejects.
RUN npm pkg delete optionalDependencies.chdb \
 && npm install --no-audit --no-fund \
 && node scripts/build.mjs --force

FROM node:20.19.5-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# Runtime packages only: no dev tools (typescript, tsx), no chdb.
RUN npm pkg delete optionalDependencies.chdb \
 && npm install --omit=dev --no-audit --no-fund \
 && npm cache clean --force \
 && test ! -e node_modules/chdb \
 && test ! -e node_modules/tsx

FROM node:20.19.5-bookworm-slim
ENV NODE_ENV=production \
    COSTLINE_HOME=/var/lib/costline \
    COSTLINE_API_HOST=0.0.0.0 \
    COSTLINE_API_PORT=8080
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY scripts/build.mjs ./scripts/build.mjs
COPY clickhouse ./clickhouse
COPY pipeline/otlp/proto ./pipeline/otlp/proto
# The non-root user of the node image (uid 1000) owns only $COSTLINE_HOME.
RUN mkdir -p /var/lib/costline && chown node:node /var/lib/costline
USER node
EXPOSE 8080
ENTRYPOINT ["node", "bin/costline.mjs"]
CMD ["--help"]
