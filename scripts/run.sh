#!/usr/bin/env bash
# `make run`: the whole application on its embedded default, on one machine.
# SQLite under var/ ($ABVLMQ_VAR_DIR), a Redis server with AOF persistence (started here when
# none answers on REDIS_URL), $ABVLMQ_WORKERS Celery workers (default 1) on the inference
# queue, the sweeper (Celery beat + the maintenance queue: re-queues stuck analyses), the ASGI server
# (daphne) on $PORT (default 8000), the DICOM listener (C-STORE) on $ABVLMQ_DICOM_PORT (default
# 11112), the demo model from models/demo. Seeds a demo cohort on first run. The processes run
# under Supervisor (scripts/processes.sh): one that dies is started again with a back-off, up to
# a limit; `make status` shows each one's state; logs are in var/. Ctrl-C or SIGTERM stops all
# it started; so does the death of `make` (SIGKILL, an OOM kill): each process holds a
# parent-death signal, so nothing is left running behind a dead parent.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
PORT="${PORT:-8000}"
VAR="${ABVLMQ_VAR_DIR:-var}"
export ABVLMQ_VAR_DIR="$VAR"
WORKERS="${ABVLMQ_WORKERS:-1}"
mkdir -p "$VAR" "$VAR/seed" "$VAR/staticfiles" "$VAR/run"
export DJANGO_SETTINGS_MODULE=abvlmq_web.settings
if [ -z "${DJANGO_SECRET_KEY:-}" ]; then
  # manage.py reads the same file (settings.py), so it works beside `make run` as it is
  [ -s "$VAR/secret_key" ] || "$PY" -c 'import secrets; print(secrets.token_urlsafe(50))' >"$VAR/secret_key"
  DJANGO_SECRET_KEY="$(cat "$VAR/secret_key")"
  export DJANGO_SECRET_KEY
fi

# Tesseract OCR: uploads are refused without it (every stored image passes an OCR check).
if ! command -v tesseract >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "run: installing Debian's tesseract-ocr (OCR check of stored images)" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tesseract-ocr) \
      >/dev/null
  else
    echo "warning: tesseract is missing: uploads will be refused until it is installed" >&2
    echo "         (apt-get install tesseract-ocr)" >&2
  fi
fi

PIDS=()
STATUS=0  # Ctrl-C ends a run normally; a start that failed ends with 1
cleanup() {
  trap - INT TERM EXIT
  echo; echo "stopping..." >&2
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  exit "$STATUS"  # the wait loop at the end never ends by itself
}
trap cleanup INT TERM EXIT

# shellcheck source=scripts/redis.sh
source scripts/redis.sh
# shellcheck source=scripts/processes.sh
source scripts/processes.sh

# The ports first: one already taken is said once, with what holds it, and nothing is started.
for p in "$PORT" "${ABVLMQ_DICOM_PORT:-11112}"; do
  if holder="$(port_taken "$p")"; then
    echo "error: port $p is already in use by $holder" >&2
    echo "       (another \`make run\`? stop it, or choose other ports: PORT=8001 ABVLMQ_DICOM_PORT=11113)" >&2
    trap - INT TERM EXIT
    exit 1
  fi
done
REDIS_DIR="${REDIS_DIR:-$VAR/redis}"
mkdir -p "$REDIS_DIR"
export REDIS_DIR
ensure_redis
[ -n "$REDIS_STARTED_PID" ] && PIDS+=("$REDIS_STARTED_PID")

"$PY" manage.py migrate --noinput -v 0

if [ ! -d models/demo ]; then
  echo "warning: models/demo is missing; analyses will fail until a model is there" >&2
  echo "         (or set ABVLMQ_MODEL_DIR to a Qwen2-VL checkpoint folder)" >&2
fi
ENGINE="${ABVLMQ_ENGINE:-inprocess}"
if [ "${ABVLMQ_SEED:-1}" = 0 ]; then
  # a site without the demo cohort and its phantoms (accounts: manage.py createsuperuser)
  echo "ABVLMQ_SEED=0: no demo accounts or phantoms are seeded" >&2
elif ! ls "$VAR"/seed/images/*.png >/dev/null 2>&1; then
  "$PY" -m trainer phantoms --out "$VAR/seed" --count 4 --seed 11 >/dev/null \
    || echo "warning: could not draw phantoms; seeding without scans" >&2
fi
if [ "$ENGINE" = vllm ]; then
  # shellcheck source=scripts/vllm.sh
  source scripts/vllm.sh
  ensure_vllm
fi
if [ "${ABVLMQ_SEED:-1}" = 0 ]; then
  :
elif [ "$ENGINE" = vllm ]; then
  # the seeded scans wait in the queue until the server is up (it starts with the others)
  "$PY" manage.py seed_demo --images "$VAR/seed/images" --count 4
else
  # and one Excellent phantom of each plane for the example library
  if [ ! -s "$VAR/examples/annotations.jsonl" ]; then
    "$PY" -m trainer phantoms --out "$VAR/examples" --count 1 --excellent-per-plane --seed 12 \
      --size 224 >/dev/null || echo "warning: could not draw the example phantoms" >&2
  fi
  "$PY" manage.py seed_demo --images "$VAR/seed/images" --count 4 --assess \
    --examples "$VAR/examples"
fi

# The workers share the cores rather than each taking them all (torch's default).
THREADS=$(( $(nproc 2>/dev/null || echo 2) / WORKERS ))
[ "$THREADS" -ge 1 ] || THREADS=1
POOL=(--concurrency 1)
WAIT=()
if [ "$ENGINE" = vllm ]; then
  # The server does the model's work: each worker holds many analyses in flight (threads,
  # bounded), so a burst of uploads becomes one continuous batch; it starts once the server
  # answers. Its own torch only runs the vision tower for abstention.
  vllm_program "${ABVLMQ_MODEL_DIR:-models/demo}" "${ABVLMQ_ADAPTER_DIR:-}"
  POOL=(--pool threads --concurrency "${ABVLMQ_VLLM_CONCURRENCY:-16}")
  WAIT=("$PY" scripts/wait_http.py "http://127.0.0.1:$VLLM_PORT/health" 900 --)
  THREADS=1
fi
for i in $(seq "$WORKERS"); do
  log="$VAR/worker.log"
  [ "$i" = 1 ] || log="$VAR/worker-$i.log"
  program "worker-$i" "$log" env OMP_NUM_THREADS="${OMP_NUM_THREADS:-$THREADS}" \
    "${WAIT[@]}" .venv/bin/celery -A abvlmq_web worker -Q "${ABVLMQ_INFERENCE_QUEUE:-inference}" \
    -n "worker$i@%h" "${POOL[@]}" --loglevel INFO --without-gossip --without-mingle
done
# Training runs (ABVLMQ_TRAINING_WORKERS=1): their own queue, one run at a time, at low CPU
# priority beside the inference workers (the trainer it starts runs under `nice` too). A GPU
# machine takes the same queue on its own: `celery -A abvlmq_web worker -Q training -c 1`.
for i in $(seq "${ABVLMQ_TRAINING_WORKERS:-0}"); do
  program "training-$i" "$VAR/training-$i.log" nice -n "${ABVLMQ_TRAINING_NICE:-10}" \
    .venv/bin/celery -A abvlmq_web worker -Q "${ABVLMQ_TRAINING_QUEUE:-training}" \
    -n "training$i@%h" --concurrency 1 --loglevel INFO --without-gossip --without-mingle
done
# The sweeper: Celery beat and the maintenance queue in one light process, never behind an
# analysis; it re-queues what a dead worker or a restarted Redis left behind.
program sweeper "$VAR/sweeper.log" .venv/bin/celery -A abvlmq_web worker -B \
  -Q "${ABVLMQ_MAINTENANCE_QUEUE:-maintenance}" -n "sweeper@%h" --pool solo --loglevel INFO \
  --without-gossip --without-mingle --schedule "$VAR/celerybeat-schedule"
program web "$VAR/web.log" \
  "$PY" -m abvlmq_web.server -b "${HOST:-127.0.0.1}" -p "$PORT" abvlmq_web.asgi:application
# The DICOM receiver scanners send to (C-STORE; ABVLMQ_DICOM_AE_TITLE / _HOST / _PORT).
program dicom "$VAR/dicom.log" "$PY" manage.py dicom_listener
start_programs
PIDS+=("$SUPERVISORD_PID")

# "running" only once the site answers (daphne imports Django first: seconds, more on a busy
# machine); if it never does, say where to look and stop everything
if ! "$PY" scripts/wait_http.py --while-pid "$SUPERVISORD_PID" \
  "http://127.0.0.1:$PORT/accounts/login/" "${ABVLMQ_START_TIMEOUT:-300}" -- true; then
  echo "run: the site did not answer on port $PORT; see $VAR/web.log and $VAR/supervisord.out" >&2
  tail -n 5 "$VAR/supervisord.out" >&2 2>/dev/null || true
  STATUS=1
  exit 1
fi
echo
echo "AbVLM-Q is running: http://127.0.0.1:$PORT/   (API docs: http://127.0.0.1:$PORT/api/docs/)"
echo "DICOM: send C-STORE to AE ${ABVLMQ_DICOM_AE_TITLE:-ABVLMQ} at ${ABVLMQ_DICOM_HOST:-127.0.0.1}:${ABVLMQ_DICOM_PORT:-11112}; STOW-RS at http://127.0.0.1:$PORT/dicomweb/studies"
echo "Logs: $VAR/web.log, $VAR/worker.log, $VAR/sweeper.log, $VAR/dicom.log. \`make status\`: each process's state. Ctrl-C stops everything."
echo "manage.py works beside it as it is (same key), e.g. .venv/bin/python manage.py createsuperuser"
# Supervisor keeps the site and the workers up; this waits until Ctrl-C (or TERM), or until
# supervisord itself ends.
while kill -0 "$SUPERVISORD_PID" 2>/dev/null; do
  sleep 2 &
  wait $! || true
done
echo "run: supervisord ended; see $VAR/supervisord.log" >&2
