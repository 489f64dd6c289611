"""A test run leaves nothing behind: no throwaway data folder in the temp folder, no Redis
queue, kombu binding or channel key of its own. Checked on a real inner pytest run that
queues an analysis no worker takes and opens a channel group on Redis."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import leftover_redis_keys

ROOT = Path(__file__).resolve().parents[1]
INNER = """
import json, os
import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from abvlmq_web.scans.tasks import run_analysis

@pytest.mark.django_db(transaction=True)
def test_leaves_things_for_the_session_to_clean():
    run_analysis.delay(123456)  # no worker: the message stays on this run's queue
    layer = get_channel_layer()
    async_to_sync(layer.group_add)("scan.1", async_to_sync(layer.new_channel)())
    seen = {"var_dir": str(settings.VAR_DIR), "queue": settings.ABVLMQ_INFERENCE_QUEUE,
            "prefix": settings.ABVLMQ_CHANNEL_PREFIX, "redis": settings.REDIS_URL,
            "var_dir_existed": os.path.isdir(settings.VAR_DIR)}
    with open(os.environ["HYGIENE_OUT"], "w") as fh:
        json.dump(seen, fh)
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ABVLMQ_")}
    env.update(extra)
    return env


@pytest.mark.slow
def test_a_test_run_leaves_no_folder_and_no_redis_keys(tmp_path):
    (tmp_path / "test_inner.py").write_text(INNER)
    out = tmp_path / "seen.json"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.conftest",
         "--rootdir", str(ROOT), "-c", str(ROOT / "pyproject.toml"), str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env=_env(HYGIENE_OUT=str(out), ABVLMQ_TEST_CHANNEL_LAYER="redis"),
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    seen = json.loads(out.read_text())
    assert seen["var_dir_existed"] and seen["queue"].startswith("inference-test-")
    assert not Path(seen["var_dir"]).exists()
    assert leftover_redis_keys(seen["redis"], seen["queue"], seen["prefix"]) == []


def test_settings_make_no_folder_when_one_is_given(tmp_path):
    """Worker subprocesses are handed the run's data folder: they must not make their own."""
    temp = tmp_path / "temp"
    temp.mkdir()
    given = tmp_path / "given"
    code = "import abvlmq_web.test_settings as s; print(s.VAR_DIR)"
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env=_env(TMPDIR=str(temp), ABVLMQ_VAR_DIR=str(given)),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip() == str(given)
    assert list(temp.iterdir()) == []
