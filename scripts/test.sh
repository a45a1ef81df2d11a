#!/usr/bin/env bash
# Quick start, second command: typecheck, lint and the whole test suite (unit, integration with
# real Redis / SMTP / Twilio-protocol parts, end to end), then a small benchmark smoke run.
# Redis comes from REDIS_URL when set; otherwise testcontainers starts one container for the whole
# run (Docker, or Podman set up by scripts/container-runtime.sh), shared by key prefix.
want_pnpm=$(node -p "require('$(cd "$(dirname "$0")/.." && pwd)/package.json').packageManager.split('@')[1]")
if [ -n "${REDIS_URL:-}" ]; then redis_plan="Redis from REDIS_URL"; else redis_plan="without a Docker engine it installs podman, runc and busybox-static with apt, starts the Podman API service (left running) and builds a local redis:7.2 image; one Redis container for the run, removed at the end"; fi
echo "test: uses pnpm $want_pnpm (the machine's if it has that version, else through npx, never installed globally), installs the locked dependencies into node_modules; $redis_plan; the Redis restart drills run redis-server processes of their own on loopback ports" >&2
source "$(dirname "$0")/bootstrap.sh"
if [ -z "${REDIS_URL:-}" ]; then
  eval "$(scripts/container-runtime.sh)"
fi
echo "== typecheck" >&2
"${PNPM[@]}" --silent typecheck
echo "== lint" >&2
"${PNPM[@]}" --silent lint
echo "== tests" >&2
"${PNPM[@]}" --silent test
