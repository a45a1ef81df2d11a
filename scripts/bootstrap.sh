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
fi
"${PNPM[@]}" install --frozen-lockfile --loglevel=warn >&2
