#!/usr/bin/env bash
# Makes a container runtime available to testcontainers and prints the environment it needs
# (as `export` lines, for `eval "$(scripts/container-runtime.sh)"`).
#
#  - Docker engine answering (a laptop, a CI runner with Docker): nothing to do, testcontainers
#    pulls images as usual.
#  - Otherwise Podman: installed with apt when missing and we are root, configured for
#    this sandbox (runc, fixed ulimits: the sandbox forbids raising rlimits and crun refuses its
#    cgroup layout), its Docker-compatible API socket started, and — because no image registry is
#    reachable here — a local `redis:7.2` image built FROM scratch from Debian's own redis-server.
#
# Everything it says goes to stderr, except the export lines on stdout.
set -euo pipefail
log() { printf 'container-runtime: %s\n' "$*" >&2; }
here=$(cd "$(dirname "$0")/.." && pwd)
image=${BREACHWAVE_REDIS_IMAGE:-redis:7.2}

if [ -n "${DOCKER_HOST:-}" ] && docker info >/dev/null 2>&1; then
  log "using DOCKER_HOST=$DOCKER_HOST"; echo "export DOCKER_HOST='$DOCKER_HOST'"; exit 0
fi
if [ -S /var/run/docker.sock ] && docker info >/dev/null 2>&1; then
  log "using the Docker engine at /var/run/docker.sock"; exit 0
fi

if ! command -v podman >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "no Docker engine and no Podman: installing podman, runc and busybox-static with apt"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    apt-get install -y -q podman runc busybox-static >&2
  else
    log "no container runtime: install Docker or Podman, or set REDIS_URL to a Redis to test against"
    exit 1
  fi
fi
if [ ! -x /bin/busybox ] && [ ! -x /usr/bin/busybox ] && [ "$(id -u)" = 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q busybox-static >&2
fi

conf=/etc/containers/containers.conf
if [ "$(id -u)" = 0 ] && [ ! -f "$conf" ]; then
  log "writing $conf (runc, fixed ulimits)"
  mkdir -p /etc/containers
  cat > "$conf" <<'CONF'
# Written by breachwave scripts/container-runtime.sh: this sandbox forbids raising rlimits and
# crun refuses its cgroup layout.
[containers]
default_ulimits = ["nofile=10000:10000", "nproc=4096:4096"]
[engine]
runtime = "runc"
CONF
fi

sock=/run/podman/podman.sock
# A service started from a checkout that was deleted since still answers pings, but conmon
# cannot start a container from its vanished working directory ("Failed to get working
# directory"): stop it and start a new one.
stale=""
for pid in $(pgrep -f "podman system service" || true); do
  case "$(readlink "/proc/$pid/cwd" 2>/dev/null || echo '(deleted)')" in
    *"(deleted)") log "stopping the Podman API service $pid: its working directory is gone"; kill "$pid" 2>/dev/null || true; stale="$stale $pid" ;;
  esac
done
for pid in $stale; do
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
done
if ! curl -sf --max-time 2 --unix-socket "$sock" http://d/_ping >/dev/null 2>&1; then
  log "starting the Podman API service on $sock"
  mkdir -p /run/podman
  # From / so that it outlives whichever checkout started it, in its own session, and with
  # every descriptor of the whole background job redirected: anything left holding this
  # script's stdout would keep `eval "$(scripts/container-runtime.sh)"` waiting for ever.
  # Its network backend (netavark) runs iptables/nft from the sbin directories, which a CI's PATH
  # may leave out ("netavark: No such file or directory" at the first container).
  (cd / && PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin" exec setsid nohup podman system service --time=0 "unix://$sock") </dev/null >/tmp/podman-service.log 2>&1 &
  for _ in $(seq 1 100); do
    curl -sf --max-time 2 --unix-socket "$sock" http://d/_ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -sf --max-time 2 --unix-socket "$sock" http://d/_ping >/dev/null 2>&1 || { log "Podman API did not answer; see /tmp/podman-service.log"; exit 1; }
fi

if ! podman image exists "$image"; then
  log "building $image locally from Debian's redis-server (no registry reachable)"
  "$here/infra/redis-image/build.sh" "$image" >&2
fi

echo "export DOCKER_HOST='unix://$sock'"
echo "export TESTCONTAINERS_RYUK_DISABLED=true"
echo "export TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1"
