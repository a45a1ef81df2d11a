#!/bin/sh
# Starts Prometheus for docker-compose.yml. Prometheus reads a bearer token only from its
# configuration or from a file, never from the environment; this writes BW_METRICS_TOKEN to
# /run/breachwave/metrics-token (a tmpfs, owner-only) for prometheus.yml to read, so the token is
# kept in .env alone. Without a token the file is empty, and every target answers 401 (down).
set -eu
umask 077
printf '%s' "${BW_METRICS_TOKEN:-}" >/run/breachwave/metrics-token
exec /bin/prometheus \
  --config.file=/etc/prometheus/breachwave/prometheus.yml \
  --storage.tsdb.path=/prometheus \
  --storage.tsdb.retention.time=30d \
  "$@"
