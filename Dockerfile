# syntax=docker/dockerfile:1
# Faultline's images. The build steps live in deploy/build.sh, which CI runs
# without a container engine. Two targets:
#
#   docker build --target server -t faultline:server .       roles against external NATS and ClickHouse (no libchdb)
#   docker build --target all-in-one -t faultline:aio .      also the embedded ClickHouse (libchdb, ~530 MiB)
#
# See README.md, "Deploying".

ARG GO_VERSION=1.26
ARG NODE_VERSION=22

# The static binary (CGO off).
FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN VERSION=${VERSION} deploy/build.sh binary /out

# libchdb.so from npm, at the Makefile's CHDB_VER.
FROM node:${NODE_VERSION}-bookworm-slim AS chdb
WORKDIR /src
COPY Makefile ./
COPY deploy/build.sh deploy/
RUN deploy/build.sh chdb /out

# Roles against an external NATS cluster and ClickHouse servers.
FROM debian:bookworm-slim AS server
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/faultline --shell /usr/sbin/nologin faultline \
 && mkdir -p /var/lib/faultline && chown faultline:faultline /var/lib/faultline && chmod 0700 /var/lib/faultline
COPY --from=build /out/faultline /usr/local/bin/faultline
USER faultline
WORKDIR /var/lib/faultline
ENV FAULTLINE_ADDR=0.0.0.0:8000 \
    FAULTLINE_DATA_DIR=/var/lib/faultline
VOLUME /var/lib/faultline
EXPOSE 8000
# /readyz is 503 while NATS is unreachable or the process drains.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s \
  CMD curl -fsS -o /dev/null http://127.0.0.1:8000/readyz || exit 1
# Stop within --shutdown-timeout (30 s): give `docker stop -t` more.
STOPSIGNAL SIGTERM
ENTRYPOINT ["faultline"]
CMD ["serve"]

# Everything in one process: embedded NATS and chDB in /var/lib/faultline.
FROM server AS all-in-one
COPY --from=chdb /out/libchdb.so /usr/local/lib/faultline/libchdb.so
ENV FAULTLINE_CHDB_LIB=/usr/local/lib/faultline/libchdb.so
