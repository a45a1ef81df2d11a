# Sourced by scripts/demo.sh and scripts/test.sh: makes sure pnpm (the version in package.json's
# packageManager) is available and the workspace is installed from the lock file.
set -euo pipefail
BW_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$BW_ROOT"
want=$(node -p "require('./package.json').packageManager.split('@')[1]")
major=$(node -p "process.versions.node.split('.')[0]")
if [ "$major" -lt 20 ]; then echo "breachwave needs Node.js 20 or newer (found $(node -v))" >&2; exit 1; fi
# The machine's own pnpm is used only when it is the pinned version; otherwise the pinned one
# runs through npx (cached under ~/.npm, nothing installed globally): a global pnpm of another
# version, which other projects on the machine rely on, is never replaced.
if [ "$(pnpm --version 2>/dev/null || true)" = "$want" ]; then
  PNPM=(pnpm)
else
  PNPM=(npx --yes "pnpm@$want")
  # Resolved once to npx's cached copy: every `npx` call spends a second or two starting npm
  # itself. The run's later pnpm calls (scripts/build-prod.sh) find that copy first on PATH; the
  # machine's own pnpm, if any, is left as it is.
  pnpm_bin=$(npx --yes -p "pnpm@$want" -c 'command -v pnpm' 2>/dev/null || true)
  if [ -n "$pnpm_bin" ] && [ "$("$pnpm_bin" --version 2>/dev/null || true)" = "$want" ]; then
    PNPM=("$pnpm_bin")
    PATH="$(dirname "$pnpm_bin"):$PATH"
    export PATH
  fi
fi
"${PNPM[@]}" install --frozen-lockfile --loglevel=warn >&2
