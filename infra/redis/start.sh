#!/bin/sh
# Starts Redis for breachwave: redis.conf beside this script, and an ACL file made at each start
# from users.acl.template, so that no password is kept in a committed file or on disk in clear.
#
#   BW_REDIS_PASSWORD=… [BW_PREFIX=bw] start.sh [redis-server arguments…]
#
# BW_REDIS_PASSWORD        required: password of the `breachwave` user, 32–128 letters, digits, _
#                          or - (it goes into REDIS_URL unescaped); `breachwave keys generate`
#                          prints one.
# BW_PREFIX                key prefix the breachwave user is limited to (default bw), as the
#                          processes' BW_PREFIX: letters, digits, _ and -, or a hash tag of them
#                          (`{bw}`), whose shards' tags (`{bw:s1}`, …, with BW_SHARDS > 1) it may
#                          use too.
# BW_REDIS_ADMIN_PASSWORD  optional: also an `admin` user with every command and key, for an
#                          operator's redis-cli (INFO, SLOWLOG, ACL LOG, CONFIG); same format.
# BW_REDIS_ACL_FILE        where to write the ACL file (default /tmp/breachwave-users.acl, mode 0600).
# REDIS_SERVER             the redis-server binary (default: redis-server on PATH).
set -eu

here=$(cd "$(dirname "$0")" && pwd)

fail() {
  echo "redis start: $*" >&2
  exit 1
}

check_password() { # NAME VALUE
  case "$2" in
    *[!A-Za-z0-9_-]*) fail "$1 may hold only letters, digits, _ and - (it is part of a URL)" ;;
  esac
  [ "${#2}" -ge 32 ] && [ "${#2}" -le 128 ] || fail "$1 must be 32 to 128 characters long"
}

sha256() {
  printf '%s' "$1" | sha256sum | cut -d ' ' -f 1
}

password=${BW_REDIS_PASSWORD:-}
[ -n "$password" ] || fail "BW_REDIS_PASSWORD is not set: put one in .env (breachwave keys generate prints one)"
check_password BW_REDIS_PASSWORD "$password"
prefix=${BW_PREFIX:-bw}
# The key patterns of the breachwave user: its prefix, and with a hash tag the shards' tags too.
tag=${prefix#\{}
tag=${tag%\}}
case "$prefix" in
  "{$tag}") keys="~{$tag}:* ~{$tag:s*}:*" ;;
  *) tag=$prefix keys="~$prefix:*" ;;
esac
case "$tag" in
  '' | *[!A-Za-z0-9_-]*) fail "BW_PREFIX may hold only letters, digits, _ and -, or be a hash tag of them ({bw})" ;;
esac
acl=${BW_REDIS_ACL_FILE:-/tmp/breachwave-users.acl}

umask 077
awk '
  /^#/ || /^[ \t]*$/ { next }
  /^[ \t]/ { line = line " " substr($0, match($0, /[^ \t]/)); next }
  { if (line != "") print line; line = $0 }
  END { if (line != "") print line }
' "$here/users.acl.template" \
  | sed -e "s/@PASSWORD_SHA256@/$(sha256 "$password")/" -e "s/@KEYS@/$keys/g" >"$acl"

if [ -n "${BW_REDIS_ADMIN_PASSWORD:-}" ]; then
  check_password BW_REDIS_ADMIN_PASSWORD "$BW_REDIS_ADMIN_PASSWORD"
  echo "user admin on #$(sha256 "$BW_REDIS_ADMIN_PASSWORD") ~* &* +@all" >>"$acl"
fi

exec "${REDIS_SERVER:-redis-server}" "$here/redis.conf" --aclfile "$acl" "$@"
