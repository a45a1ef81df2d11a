#!/usr/bin/env bash
# The production form of breachwave, in OUTDIR:
#   OUTDIR/dist/          compiled JavaScript (scripts/build.mjs): dist/run.js PROCESS, dist/healthcheck.js
#   OUTDIR/node_modules/  the production dependencies of services/run only: the npm packages the
#                         compiled code imports, without dev dependencies, workspace sources or the test kit
#   OUTDIR/package.json   services/run's manifest
# Run it from a checkout after `pnpm install --frozen-lockfile`; then `NODE_ENV=production node
# --enable-source-maps OUTDIR/dist/run.js notifier` runs with nothing else. infra/Dockerfile runs
# exactly this in its build stage, and services/run/src/build.test.ts runs it into a temporary directory.
#   scripts/build-prod.sh OUTDIR
set -euo pipefail
out=${1:?usage: scripts/build-prod.sh OUTDIR}
root=$(cd "$(dirname "$0")/.." && pwd)
if [ -e "$out" ] && [ -n "$(ls -A "$out")" ]; then
  echo "build-prod: $out exists and is not empty" >&2
  exit 2
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$root"
# The pinned pnpm: the machine's when it is that version, else through npx (as scripts/bootstrap.sh).
want=$(node -p "require('./package.json').packageManager.split('@')[1]")
if [ "$(pnpm --version 2>/dev/null || true)" = "$want" ]; then PNPM=(pnpm); else PNPM=(npx --yes "pnpm@$want"); fi
# Deployed into the checkout's .tmp/ first, by a relative path: pnpm 10's legacy deploy also
# writes the .bin shims of the deployed package under services/run/ + that relative path (they
# land outside the target otherwise), which is removed with it.
stage=".tmp/deploy-$$"
trap 'rm -rf "$stage" "services/run/$stage"; rmdir .tmp services/run/.tmp 2>/dev/null || true' EXIT
# --legacy: the workspace does not inject its packages, and none is needed here: services/run's
# production dependencies are npm packages only (the workspace's code is compiled into dist/).
"${PNPM[@]}" --filter @breachwave/run deploy --legacy --prod --frozen-lockfile "$stage" >&2
# pnpm's links inside node_modules are relative: the tree can move.
mv "$stage/node_modules" "$stage/package.json" "$out/"
node scripts/build.mjs --out "$out/dist"
