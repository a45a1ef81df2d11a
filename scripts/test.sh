#!/usr/bin/env bash
# Quick start, second command: typecheck, lint and the whole test suite (unit, integration with
# real Redis / SMTP / Twilio-protocol parts, end to end), then a small benchmark smoke run.
# Redis comes from REDIS_URL when set; otherwise testcontainers starts it (Docker, or Podman set
# up by scripts/container-runtime.sh).
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
