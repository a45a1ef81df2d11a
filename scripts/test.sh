#!/usr/bin/env bash
# Quick start, second command: typecheck, lint and the whole test suite (unit, integration with
# real Redis / SMTP / Twilio-protocol parts, end to end), then a small benchmark smoke run.
# Redis comes from REDIS_URL when set; otherwise testcontainers starts one container for the whole
# run (Docker, or Podman set up by scripts/container-runtime.sh), shared by key prefix.
want_pnpm=$(node -p "require('$(cd "$(dirname "$0")/.." && pwd)/package.json').packageManager.split('@')[1]")
# The browser test needs Chromium, the alert-rule tests promtool and the compose file's
# `docker-compose config` check Debian's docker-compose (1.29, Python: it only reads the file, no
# engine is needed or started): installed with apt when missing (as root, with apt), otherwise
# those tests are skipped with a loud message. A tool already on the machine is left as it is.
tools=()
[ -x "${BW_CHROMIUM:-/usr/bin/chromium}" ] || tools+=(chromium)
command -v promtool >/dev/null 2>&1 || tools+=(prometheus)
command -v docker-compose >/dev/null 2>&1 || tools+=(docker-compose)
if [ ${#tools[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then tools_plan="; installs ${tools[*]} with apt (for the browser, alert-rule and compose-file tests; the prometheus package only for its promtool and docker-compose only for its config check, no server or container is started)"; else tools_plan=""; tools=(); fi
if [ -n "${REDIS_URL:-}" ]; then redis_plan="Redis from REDIS_URL"; else redis_plan="without a Docker engine it installs podman, runc and busybox-static with apt, starts the Podman API service (left running) and builds a local redis:7.2 image; one Redis container for the run, removed at the end"; fi
echo "test: uses pnpm $want_pnpm (the machine's if it has that version, else through npx, never installed globally), installs the locked dependencies into node_modules; $redis_plan; the Redis restart drills run redis-server processes of their own on loopback ports$tools_plan" >&2
if [ ${#tools[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${tools[@]}" >&2 \
    || { DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${tools[@]}" >&2; } \
    || echo "test: could not install ${tools[*]}: the tests that need them are skipped" >&2
fi
source "$(dirname "$0")/bootstrap.sh"
if [ -z "${REDIS_URL:-}" ]; then
  eval "$(scripts/container-runtime.sh)"
fi
# Side by side: each is one process on one core, and neither needs the other.
echo "== typecheck and lint" >&2
typecheck_out=$(mktemp)
"${PNPM[@]}" --silent typecheck > "$typecheck_out" 2>&1 &
typecheck_pid=$!
lint_status=0
"${PNPM[@]}" --silent lint || lint_status=$?
typecheck_status=0
wait "$typecheck_pid" || typecheck_status=$?
cat "$typecheck_out" >&2
rm -f "$typecheck_out"
if [ "$typecheck_status" != 0 ]; then echo "test: typecheck failed" >&2; exit "$typecheck_status"; fi
if [ "$lint_status" != 0 ]; then echo "test: lint failed" >&2; exit "$lint_status"; fi
echo "== tests" >&2
"${PNPM[@]}" --silent test
