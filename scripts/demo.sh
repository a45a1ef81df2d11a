#!/usr/bin/env bash
# Quick start, first command: a demo wave end to end on loopback (see README).
#   ./scripts/demo.sh [--accounts N] [--json] [--keep]
source "$(dirname "$0")/bootstrap.sh"
# Redis: REDIS_URL, else a local server, else a container (the CLI falls back to testcontainers;
# make sure a runtime is there when nothing answers on 6379).
if [ -z "${REDIS_URL:-}" ] && ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
  eval "$(scripts/container-runtime.sh)"
fi
exec "${PNPM[@]}" --silent breachwave demo "$@"
