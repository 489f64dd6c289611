"""Training configs are validated by pydantic (trainer.config) with messages that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainer.config import ConfigError, read, validate
from trainer.fit import FitConfig

ROOT = Path(__file__).resolve().parents[2]
PAPER = ROOT / "trainer/configs/paper_lora_2b.yaml"


@pytest.mark.parametrize(
    "override, message",
    [
        ("tiny.hiden_size=8", "tiny: unknown key(s) hiden_size"),
        ("lora=5", "lora: expected a mapping, got int"),
        ("lora.rank=big", "lora.rank: must be an integer, got 'big'"),
        ("dtype=fp8", "dtype: must be one of 'bf16', 'fp16' or 'fp32', got 'fp8'"),
        ("lora.targets=q_proj", "lora.targets: must be a list"),
        ("clock=sundial", "clock: must be one of 'wall' or 'cpu'"),
    ],
)
def test_pydantic_faults_are_told_with_the_key_named(override, message):
    with pytest.raises(ConfigError) as info:
        validate(FitConfig, read(PAPER, [override]))
    assert str(info.value).startswith(message)


def test_a_post_init_rule_reaches_the_user_unchanged_and_numbers_may_be_yaml_strings():
    with pytest.raises(ConfigError, match=r"^batch_size: and grad_accum > 0$"):
        validate(FitConfig, read(PAPER, ["batch_size=0"]))
    assert validate(FitConfig, read(PAPER, ["lr='1e-4'"])).lr == 1e-4


def test_a_missing_required_key_and_a_non_mapping_file_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="top level: missing required key 'out'"):
        validate(FitConfig, {"model": "tiny", "data": "d"})
    bad = tmp_path / "list.yaml"
    bad.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="expected a mapping, got list"):
        read(bad)
