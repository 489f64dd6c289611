"""One trainer command line: every command runs as ``python -m trainer <command>``."""

from __future__ import annotations

import json

import pytest

from trainer.__main__ import COMMANDS, main


def test_every_trainer_module_with_a_command_line_is_a_command():
    modules = {module for module, _ in COMMANDS.values()}
    assert {"trainer.calibrate", "trainer.promote", "trainer.state_size"} <= modules
    assert {"trainer.upload_path", "trainer.evaluate", "trainer.fit"} <= modules


@pytest.mark.slow
def test_state_size_measures_the_paper_recipe(capsys):
    """The LoRA recipe's training state against a full fine-tune's, on the 2B shapes (built on
    the meta device: no weights are read)."""
    assert main(["state-size", "--config", "trainer/configs/paper_lora_2b.yaml"]) == 0
    out = capsys.readouterr().out
    figures = json.loads(out[: out.rindex("}") + 1])
    assert figures["state_now_bytes"] < figures["state_before_bytes"] / 5
    assert "MB of adapter" in out
