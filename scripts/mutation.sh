#!/usr/bin/env bash
# Mutation testing of the scoring core (answer format, rubric with score and grade, boxes),
# run against the pure scoring tests only (no torch, no Django). Optional dev tool: mutmut is
# installed into .venv on first use, not a project dependency.
#   bash scripts/mutation.sh            # runs mutmut in a scratch copy, prints the summary
# The scratch copy keeps mutmut's `mutants/` folder and cache out of the working tree;
# `MUTATION_DIR` says where (default: a fresh folder under the system temp folder).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=$ROOT/.venv/bin/python
"$PY" -c 'import mutmut' 2>/dev/null || "$PY" -m pip install --quiet 'mutmut>=3.3,<4'
WORK="${MUTATION_DIR:-$(mktemp -d -t abvlmq-mutation-XXXXXX)}"
mkdir -p "$WORK/tests/scoring"
cp -r scoring "$WORK/"
cp tests/__init__.py "$WORK/tests/"
cp tests/scoring/__init__.py tests/scoring/strategies.py tests/scoring/test_answer_*.py \
  tests/scoring/test_boxes.py tests/scoring/test_rubric.py tests/scoring/test_score_and_grade.py \
  tests/scoring/test_prompt.py tests/scoring/test_scoring_contracts.py "$WORK/tests/scoring/"
cat >"$WORK/setup.cfg" <<'CFG'
[mutmut]
source_paths = scoring
only_mutate =
    scoring/answer.py
    scoring/rubric.py
    scoring/boxes.py
pytest_add_cli_args_test_selection = tests/scoring
pytest_add_cli_args = -p no:django -p no:cacheprovider -q

[tool:pytest]
addopts = -p no:django
CFG
cd "$WORK"
echo "mutation: working in $WORK" >&2
"$ROOT/.venv/bin/mutmut" run --max-children "${MUTATION_JOBS:-2}" >mutmut-run.log 2>&1 || true
"$ROOT/.venv/bin/mutmut" results --all true >results.txt 2>&1 || true
"$PY" - <<'PYEOF'
import collections, re
counts = collections.Counter()
for line in open("results.txt"):
    m = re.match(r"\s*(\S+): (\w[\w ]*)$", line.rstrip())
    if m:
        counts[m.group(2)] += 1
total = sum(counts.values())
killed = counts.get("killed", 0)
print(dict(counts))
if total:
    print(f"mutants: {total}, killed: {killed} ({100 * killed / total:.1f} %)")
PYEOF
