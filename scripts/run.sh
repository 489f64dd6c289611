#!/usr/bin/env bash
# `make run`: bring up the application on its embedded default.
# Until the web platform lands there is no server to start; say so loudly.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "AbVLM-Q: nothing to serve yet - the web platform (issue 5) has not landed." >&2
echo "What works today: .venv/bin/python -m scoring rubric" >&2
exit 1
