#!/usr/bin/env bash
# Builds a minimal Redis image FROM scratch out of this machine's own Debian redis-server, for
# machines that reach no image registry. Tagged with the public name so the same test code runs
# unchanged where Docker pulls the real image.
set -euo pipefail
image=${1:-redis:7.2}
if ! command -v redis-server >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server >&2
fi
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/root/bin" "$ctx/root/usr/local/bin" "$ctx/root/data" "$ctx/root/tmp"
bb=$(command -v busybox)
cp "$bb" "$ctx/root/bin/busybox"
ln -s busybox "$ctx/root/bin/sh"
for bin in redis-server redis-cli; do
  src=$(readlink -f "$(command -v $bin)")
  cp "$src" "$ctx/root/usr/local/bin/$bin.real"
  for lib in $(ldd "$src" | grep -o '/[^ ]*'); do
    mkdir -p "$ctx/root$(dirname "$lib")"
    cp -L "$lib" "$ctx/root$lib"
  done
done
# The wrapper listens on all interfaces of the container without protected mode, as the official
# image does; the port is only ever published on loopback by the test kit.
cat > "$ctx/root/usr/local/bin/redis-server" <<'WRAP'
#!/bin/sh
exec /usr/local/bin/redis-server.real --protected-mode no --bind 0.0.0.0 --save "" --appendonly no "$@"
WRAP
cat > "$ctx/root/usr/local/bin/redis-cli" <<'WRAP'
#!/bin/sh
exec /usr/local/bin/redis-cli.real "$@"
WRAP
chmod +x "$ctx/root/usr/local/bin/redis-server" "$ctx/root/usr/local/bin/redis-cli"
cat > "$ctx/Containerfile" <<'CF'
FROM scratch
COPY root/ /
ENV PATH=/usr/local/bin:/bin
WORKDIR /data
EXPOSE 6379
CMD ["redis-server"]
CF
podman build -q -t "$image" -f "$ctx/Containerfile" "$ctx"
