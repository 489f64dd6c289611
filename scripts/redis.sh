#!/usr/bin/env bash
# Source this: make sure a Redis answers on $REDIS_URL, starting one when none does.
#   ensure_redis  -> exports REDIS_URL; sets REDIS_STARTED_PID when it started a server.
# Order: the Redis at $REDIS_URL (default redis://127.0.0.1:6379/0); else the system
# redis-server on a free port, with AOF persistence in $REDIS_DIR (a queued task survives a
# restart of the server); else Debian's redis-server package (installed when root).
# (PyPI's `redis-server` package has no build for this Python, so it is not a fallback.)

redis_answers() {
  "${PY:-python3}" - "$1" <<'PY' >/dev/null 2>&1
import sys, redis
redis.Redis.from_url(sys.argv[1], socket_connect_timeout=1).ping()
PY
}

free_port() {
  "${PY:-python3}" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

ensure_redis() {
  export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
  REDIS_STARTED_PID=""
  if redis_answers "$REDIS_URL"; then
    return 0
  fi
  local server
  server="$(command -v redis-server || true)"
  if [ -z "$server" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "redis: no server found; installing Debian's redis-server" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server) >&2
    server="$(command -v redis-server || true)"
  fi
  if [ -z "$server" ]; then
    echo "error: no Redis answers on $REDIS_URL and redis-server is not installed" >&2
    return 1
  fi
  local port dir
  port="$(free_port)"
  dir="${REDIS_DIR:-$(mktemp -d)}"
  # --pdeathsig: a Redis started here stops with the script that started it, even a killed one
  setpriv --pdeathsig TERM "$server" --port "$port" --bind 127.0.0.1 --save "" --appendonly yes --appendfsync everysec \
    --dir "$dir" \
    --daemonize no --loglevel warning >"$dir/redis.log" 2>&1 &
  REDIS_STARTED_PID=$!
  export REDIS_URL="redis://127.0.0.1:$port/0"
  for _ in $(seq 50); do
    redis_answers "$REDIS_URL" && { echo "redis: started on port $port (pid $REDIS_STARTED_PID)" >&2; return 0; }
    sleep 0.1
  done
  echo "error: redis-server did not start; see $dir/redis.log" >&2
  return 1
}
