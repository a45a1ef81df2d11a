#!/usr/bin/env bash
# Quick start, first command: a demo wave end to end on loopback (see README).
#   ./scripts/demo.sh [--accounts N] [--json] [--keep]
echo "demo: uses pnpm $(node -p "require('$(cd "$(dirname "$0")/.." && pwd)/package.json').packageManager.split('@')[1]") (the machine's if it has that version, else through npx, never installed globally) and installs the locked dependencies into node_modules; Redis from REDIS_URL, else 127.0.0.1:6379, else a container (podman, runc and busybox-static installed with apt and a local redis:7.2 image built when there is no Docker engine); a local SMTP sink and Twilio-compatible server on loopback for the run" >&2
source "$(dirname "$0")/bootstrap.sh"
# Redis: REDIS_URL, else a local server, else a container (the CLI falls back to testcontainers;
# make sure a runtime is there when nothing answers on 6379).
if [ -z "${REDIS_URL:-}" ] && ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
  eval "$(scripts/container-runtime.sh)"
fi
exec "${PNPM[@]}" --silent breachwave demo "$@"
