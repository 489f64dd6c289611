#!/usr/bin/env bash
# `make status`: the state of each process of a running `make run` (Supervisor's view: RUNNING,
# STARTING, BACKOFF, FATAL with its last exit, ...), and where the logs are.
cd "$(dirname "$0")/.."
VAR="${ABVLMQ_VAR_DIR:-var}"
CONF="$VAR/supervisord.conf"
if [ ! -f "$CONF" ] || ! .venv/bin/supervisorctl -c "$CONF" pid >/dev/null 2>&1; then
  echo "make run is not running (no supervisord answers on $VAR/run/supervisor.sock)"
  exit 3
fi
.venv/bin/supervisorctl -c "$CONF" status
status=$?
echo "logs: $VAR/*.log (supervisord: $VAR/supervisord.log)"
exit $status
