#!/usr/bin/env bash
# `make test` (after lint): bring up what the tests need, then run pytest with any arguments.
#  - Chromium + ChromeDriver from Debian's packages for the browser test (installed if absent);
#  - Orthanc from Debian's package for the DICOM routing test (installed if absent);
#  - xmlsec1 from Debian's package for the SAML identity provider of the SSO tests;
#  - Redis: the one on $REDIS_URL, else one started for this run (scripts/redis.sh);
#  - the database: $DATABASE_URL when set; else the local PostgreSQL when it answers (started
#    with `service postgresql start` when installed but down); else a SQLite file in WAL mode
#    (ABVLMQ_TEST_DB=sqlite forces it). The end-to-end tests' worker and server subprocesses
#    share whichever it is with pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python

# Debian packages the tests need, each installed when its command is absent (as root, with
# apt-get; otherwise the tests that need it say so):
#  - tesseract-ocr: every stored image passes an OCR check for text (scoring/imaging/ocr.py);
#  - chromium and chromium-driver: the browser tests;
#  - xmlsec1: the SAML identity provider of the single sign-on tests signs with it
#    (tests/fakes/idp/saml.py; the application itself verifies with the xmlsec wheel);
#  - orthanc: the test that routes a file through it to the DICOM listener.
need_debian() {  # command packages...
  command -v "$1" >/dev/null && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "test: installing Debian's ${*:2}" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${@:2}") \
      >/dev/null
  else
    echo "test: $1 missing and cannot apt-get install ${*:2} (not root): its tests fail or skip" >&2
  fi
}
need_debian tesseract tesseract-ocr
need_debian chromium chromium chromium-driver
need_debian chromedriver chromium chromium-driver
need_debian xmlsec1 xmlsec1
need_debian Orthanc orthanc

# axe-core (npm) for the browser tests' accessibility checks, pinned in package.json.
if [ ! -f node_modules/axe-core/axe.min.js ]; then
  if command -v npm >/dev/null; then
    echo "test: installing axe-core from npm (package.json)" >&2
    npm install --no-audit --no-fund --silent >/dev/null 2>&1 \
      || echo "test: npm install failed: the accessibility tests will fail" >&2
  else
    echo "test: npm missing: cannot install axe-core for the accessibility tests" >&2
  fi
fi

PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT
# shellcheck source=scripts/redis.sh
source scripts/redis.sh
ensure_redis
[ -n "$REDIS_STARTED_PID" ] && PIDS+=("$REDIS_STARTED_PID")

pg_up() { command -v pg_isready >/dev/null && pg_isready -h 127.0.0.1 -p 5432 -q; }
if [ -z "${DATABASE_URL:-}" ] && [ "${ABVLMQ_TEST_DB:-}" != "sqlite" ]; then
  if ! pg_up && command -v service >/dev/null; then
    service postgresql start >/dev/null 2>&1 || true
    for _ in $(seq 20); do pg_up && break; sleep 0.5; done
  fi
  if pg_up; then
    export DATABASE_URL="postgres://postgres@127.0.0.1:5432/abvlmq"
  fi
fi
echo "test: database ${DATABASE_URL:-sqlite (file, WAL)}; redis $REDIS_URL" >&2

set +e
"$PY" -m pytest "$@"
status=$?
set -e
exit $status
