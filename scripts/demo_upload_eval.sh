#!/usr/bin/env bash
# The demo model measured on the path an upload takes (issue 31), after
# `python -m trainer fit --config trainer/configs/demo_upload.yaml`:
#   calibration fitted on the calibration set through intake (seed 4), then the fresh
#   upload-path sets (640 x 480 and 1024 x 768 screens, seed 515151; both sizes with and
#   without furniture, seed 626262) and the 224 px phantoms fed straight in (seed 2).
#   RUN=artifacts/demo/run-upload/final bash scripts/demo_upload_eval.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
D=artifacts/demo
RUN=${RUN:-$D/run-upload/final}
OUT=${OUT:-$D/eval-run-upload}
upload_set() {  # folder count seed size [flags]
  test -f "$1/annotations.jsonl" && return 0
  "$PY" -m trainer upload-path --out "$1" --count "$2" --seed "$3" --size "$4" "${@:5}"
}
upload_set $D/val-upload 400 4 640x480,1024x768 --mixed-chrome
upload_set $D/up-640 120 515151 640x480
upload_set $D/up-1024 120 515151 1024x768
upload_set $D/up-fresh 200 626262 640x480,1024x768 --mixed-chrome
test -f $D/test/annotations.jsonl ||
  "$PY" -m trainer.phantoms --out $D/test --count 400 --seed 2 --size 224 --workers 2
# calibrate on raw confidences: the run's info without any calibration it inherited
"$PY" - "$RUN/abvlmq.json" <<'PY'
import json, sys
p = sys.argv[1]
info = json.load(open(p))
info.pop("calibration", None)
json.dump(info, open(p, "w"), indent=2)
PY
"$PY" -m trainer evaluate --model "$RUN" --data $D/val-upload/annotations.jsonl --out "$OUT/val"
"$PY" -m trainer calibrate --model "$RUN" --predictions "$OUT/val/predictions.jsonl" \
  --truth $D/val-upload/annotations.jsonl
for s in up-640 up-1024 up-fresh test; do
  "$PY" -m trainer evaluate --model "$RUN" --data $D/$s/annotations.jsonl --out "$OUT/$s"
done
# the model it would replace, measured the same way on the upload path (CURRENT=models/demo)
if [ -n "${CURRENT:-}" ]; then
  for s in up-640 up-1024 up-fresh; do
    "$PY" -m trainer evaluate --model "$CURRENT" --data $D/$s/annotations.jsonl --out "$OUT/current-$s"
  done
fi
