#!/usr/bin/env bash
# `make run`: the whole application on its embedded default, on one machine.
# SQLite under var/, a Redis server (started here when none answers on REDIS_URL), one Celery
# worker on the inference queue, the ASGI server (daphne) on $PORT (default 8000), the DICOM
# listener (C-STORE) on $ABVLMQ_DICOM_PORT (default 11112), the demo
# model from models/demo. Seeds a demo cohort on first run. Ctrl-C stops all it started.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
PORT="${PORT:-8000}"
mkdir -p var var/seed var/staticfiles
export DJANGO_SETTINGS_MODULE=abvlmq_web.settings
if [ -z "${DJANGO_SECRET_KEY:-}" ]; then
  [ -s var/secret_key ] || "$PY" -c 'import secrets; print(secrets.token_urlsafe(50))' >var/secret_key
  DJANGO_SECRET_KEY="$(cat var/secret_key)"
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
cleanup() {
  trap - INT TERM EXIT
  echo; echo "stopping..." >&2
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup INT TERM EXIT

# shellcheck source=scripts/redis.sh
source scripts/redis.sh
ensure_redis
[ -n "$REDIS_STARTED_PID" ] && PIDS+=("$REDIS_STARTED_PID")

"$PY" manage.py migrate --noinput -v 0

if [ ! -d models/demo ]; then
  echo "warning: models/demo is missing; analyses will fail until a model is there" >&2
  echo "         (or set ABVLMQ_MODEL_DIR to a Qwen2-VL checkpoint folder)" >&2
fi
if ! ls var/seed/images/*.png >/dev/null 2>&1; then
  "$PY" -m trainer phantoms --out var/seed --count 4 --seed 11 >/dev/null \
    || echo "warning: could not draw phantoms; seeding without scans" >&2
fi
"$PY" manage.py seed_demo --images var/seed/images --count 4 --assess

.venv/bin/celery -A abvlmq_web worker -Q "${ABVLMQ_INFERENCE_QUEUE:-inference}" \
  --concurrency 1 --loglevel INFO --without-gossip --without-mingle >var/worker.log 2>&1 &
PIDS+=($!)
.venv/bin/daphne -b "${HOST:-127.0.0.1}" -p "$PORT" abvlmq_web.asgi:application >var/web.log 2>&1 &
PIDS+=($!)
# The DICOM receiver scanners send to (C-STORE; ABVLMQ_DICOM_AE_TITLE / _HOST / _PORT).
"$PY" manage.py dicom_listener >var/dicom.log 2>&1 &
PIDS+=($!)

for _ in $(seq 100); do
  "$PY" -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$PORT/accounts/login/', timeout=1)" \
    2>/dev/null && break
  sleep 0.2
done
echo
echo "AbVLM-Q is running: http://127.0.0.1:$PORT/   (API docs: http://127.0.0.1:$PORT/api/docs/)"
echo "DICOM: send C-STORE to AE ${ABVLMQ_DICOM_AE_TITLE:-ABVLMQ} at ${ABVLMQ_DICOM_HOST:-127.0.0.1}:${ABVLMQ_DICOM_PORT:-11112}; STOW-RS at http://127.0.0.1:$PORT/dicomweb/studies"
echo "Logs: var/web.log, var/worker.log, var/dicom.log. Ctrl-C stops everything."
# Wait for any child to exit (or Ctrl-C); then cleanup stops the rest.
wait -n "${PIDS[@]}" || true
