"""The fine-tuning recipe: configs, answer-only labels, loss going down, checkpoint and resume."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

pytest.importorskip("transformers")
pytest.importorskip("torchvision")

from trainer.fit import ConfigError, FitConfig, load_config

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "trainer" / "configs").glob("*.yaml"))

MICRO_TINY = {
    "vocab_size": 512,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_layers": 2,
    "num_heads": 2,
    "num_kv_heads": 1,
    "vision_depth": 1,
    "vision_dim": 32,
    "vision_heads": 2,
    "vision_mlp_ratio": 2,
    "min_tokens": 4,
    "max_tokens": 16,
}


def _micro_config(tmp_path: Path, data: Path, out: str = "run", **extra) -> Path:
    cfg = {
        "model": "tiny",
        "data": str(data),
        "out": str(tmp_path / out),
        "mode": "full",
        "vision": "full",
        "prompt_detail": "compact",
        "tiny": MICRO_TINY,
        "max_steps": 12,
        "batch_size": 2,
        "grad_accum": 2,
        "lr": 3e-3,
        "warmup_steps": 2,
        "dtype": "fp32",
        "save_every": 6,
        "progress": False,
        "seed": 0,
        "ood_reference": 0,  # the abstention statistics have their own test
        **extra,
    }
    path = tmp_path / f"{out}.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    from trainer.tiny_qwen import toy_dataset

    return toy_dataset(tmp_path_factory.mktemp("toy"), 8, seed=0)


def _log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


# ----------------------------------------------------------------- configs


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_loads(path):
    if path.name == "baselines.yaml":  # python -m trainer baselines, not fit
        from trainer.baselines import BaselineConfig
        from trainer.baselines import load_config as load_baselines

        assert isinstance(load_baselines(path), BaselineConfig)
    elif path.name == "stage1_ablations.yaml":  # python -m trainer ablate
        from trainer.ablate import AblationConfig
        from trainer.ablate import load_config as load_ablations

        assert isinstance(load_ablations(path), AblationConfig)
    else:
        assert isinstance(load_config(path), FitConfig)
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("#"), "each config starts with a comment showing its command"


def test_the_paper_config_is_the_papers_lora():
    config = load_config(ROOT / "trainer/configs/paper_lora_2b.yaml")
    assert (config.mode, config.lora.rank, config.lora.alpha) == ("lora", 16, 32)
    assert (config.lora.dropout, config.lora.bias, config.dtype) == (0.05, "none", "bf16")
    assert config.lr == 4e-5 and config.vision != "frozen"
    assert set(config.lora.targets) == {"q_proj", "k_proj", "v_proj", "o_proj"} | {
        "gate_proj",
        "up_proj",
        "down_proj",
    }


def test_overrides_reach_nested_keys_and_are_typed():
    config = load_config(
        (ROOT / "trainer/configs/paper_lora_2b.yaml"), ["lora.rank=8", "lr=1e-4", "out=/tmp/x"]
    )
    assert config.lora.rank == 8 and config.lr == 1e-4 and config.out == "/tmp/x"


@pytest.mark.parametrize(
    "override, message",
    [
        ("lora.rnak=8", "unknown key"),
        ("lr=fast", "must be a number"),
        ("mode=qlora", "must be one of"),
        ("batch_size=0", "batch_size"),
        ("lora.dropout=1.5", "lora.dropout"),
        ("nonsense", "key=value"),
    ],
)
def test_a_bad_config_is_refused_with_the_key_named(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(ROOT / "trainer/configs/paper_lora_2b.yaml", [override])


# ----------------------------------------------------------------- labels


def test_only_the_answer_and_its_end_token_are_labelled(toy, tmp_path):
    from transformers import AutoProcessor

    from scoring.rubric import default_rubric
    from trainer.data import load_records, to_conversation
    from trainer.fit import AnswerCollator
    from trainer.tiny_qwen import TinySpec, build_tiny

    base = build_tiny(tmp_path / "base", spec=TinySpec(**MICRO_TINY), n_random=50)
    processor = AutoProcessor.from_pretrained(base)
    records = load_records(toy / "train.jsonl")[:2]
    batch = AnswerCollator(processor, default_rubric(), "compact", toy)(records)
    for row, record in enumerate(records):
        labels = batch["labels"][row]
        ids = labels[labels != -100].tolist()
        answer = to_conversation(record, toy, detail="compact").answer
        assert processor.tokenizer.decode(ids) == answer + "<|im_end|>"


# ----------------------------------------------------------------- training


@pytest.mark.slow
def test_a_few_steps_lower_the_loss_with_expected_values(toy, tmp_path):
    from trainer.fit import fit

    final = fit(load_config(_micro_config(tmp_path, toy)))
    log = _log(tmp_path / "run")
    assert [e["step"] for e in log] == list(range(1, 13))
    # an untrained model guesses near-uniformly over the vocabulary: its first loss is about
    # ln(vocab) whatever the torch version's random numbers; then it learns
    assert log[0]["loss"] == pytest.approx(math.log(MICRO_TINY["vocab_size"]), abs=0.15)
    assert log[-1]["loss"] < log[0]["loss"] - 1.0
    assert log[-1]["token_accuracy"] > log[0]["token_accuracy"] + 0.2
    assert (final / "model.safetensors").is_file() and (final / "tokenizer.json").is_file()
    resolved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert resolved["lr"] == 3e-3 and resolved["tiny"]["hidden_size"] == 64


@pytest.mark.slow
def test_a_stopped_run_resumes_where_it_left_off(toy, tmp_path):
    from trainer.fit import fit

    fit(load_config(_micro_config(tmp_path, toy, out="whole", max_steps=6, save_every=3)))
    cfg = _micro_config(tmp_path, toy, out="parts", max_steps=6, save_every=3)
    fit(load_config(cfg, ["stop_at=3"]))
    assert len(_log(tmp_path / "parts")) == 3
    assert json.loads((tmp_path / "parts" / "state" / "progress.json").read_text())["step"] == 3
    fit(load_config(cfg))
    whole, parts = _log(tmp_path / "whole"), _log(tmp_path / "parts")
    assert [e["step"] for e in parts] == list(range(1, 7))
    for a, b in zip(whole, parts, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-4)


@pytest.mark.slow
def test_lora_trains_an_adapter_that_the_engine_merges(toy, tmp_path):
    from scoring.engine import Engine
    from trainer.fit import fit
    from trainer.tiny_qwen import TinySpec, build_tiny

    base = build_tiny(
        tmp_path / "base", spec=TinySpec(**MICRO_TINY, prompt_detail="compact"), n_random=50
    )
    cfg = _micro_config(
        tmp_path, toy, out="lora", model=str(base), mode="lora", vision="lora", max_steps=2
    )
    adapter = fit(load_config(cfg, ["lora.rank=4", "lora.alpha=8"]))
    assert (adapter / "adapter_config.json").is_file()
    assert not (adapter / "model.safetensors").exists()  # an adapter, not a full copy
    engine = Engine.load(base, adapter)
    assert "+" in engine.model_id and engine.prompt_detail == "compact"
    assert "lora" not in " ".join(n for n, _ in engine.model.named_modules())  # merged


@pytest.mark.slow
def test_a_lora_runs_state_holds_the_adapter_only_and_resumes_bit_for_bit(toy, tmp_path):
    """The saved state of a LoRA run: the trainable weights, the optimizer, the RNGs, the step;
    not the frozen base. A run stopped and resumed ends with the very same adapter as an
    unbroken one."""
    import torch
    from safetensors.torch import load_file

    from trainer.fit import fit
    from trainer.tiny_qwen import TinySpec, build_tiny

    base = build_tiny(tmp_path / "base", spec=TinySpec(**MICRO_TINY), n_random=50)
    settings = {"model": str(base), "mode": "lora", "vision": "lora", "max_steps": 6}
    whole = fit(load_config(_micro_config(tmp_path, toy, out="whole", **settings)))
    cfg = _micro_config(tmp_path, toy, out="parts", **settings)
    fit(load_config(cfg, ["stop_at=3"]))
    state = tmp_path / "parts" / "state"
    saved = load_file(str(state / "model.safetensors"))
    assert saved and all("lora_" in k for k in saved), sorted(saved)[:5]
    base_bytes = (base / "model.safetensors").stat().st_size
    assert (state / "model.safetensors").stat().st_size < base_bytes / 4
    parts = fit(load_config(cfg))
    a = load_file(str(whole / "adapter_model.safetensors"))
    b = load_file(str(parts / "adapter_model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_the_warm_up_labels_only_the_first_answer_lines(toy, tmp_path):
    from transformers import AutoProcessor

    from scoring.rubric import default_rubric
    from trainer.data import load_records, to_conversation
    from trainer.fit import AnswerCollator
    from trainer.tiny_qwen import TinySpec, build_tiny

    base = build_tiny(tmp_path / "base", spec=TinySpec(**MICRO_TINY), n_random=50)
    processor = AutoProcessor.from_pretrained(base)
    records = load_records(toy / "train.jsonl")[:2]
    collate = AnswerCollator(processor, default_rubric(), "compact", toy)
    full = collate(records)
    collate.lines = 2
    batch = collate(records)
    assert batch["input_ids"].shape[1] < full["input_ids"].shape[1]
    for row, record in enumerate(records):
        labels = batch["labels"][row]
        text = processor.tokenizer.decode(labels[labels != -100].tolist())
        answer = to_conversation(record, toy, detail="compact").answer
        assert text == "".join(answer.splitlines(keepends=True)[:2])


@pytest.mark.slow
def test_the_vision_tower_gets_its_own_learning_rate(toy, tmp_path):
    from trainer.fit import fit

    config = load_config(
        _micro_config(
            tmp_path, toy, max_steps=2, vision_lr_mult=3.0, plane_warmup_steps=1, warmup_steps=0
        )
    )
    run = fit(config).parent
    log = _log(run)
    assert [e["step"] for e in log] == [1, 2]
    import torch
    from safetensors import safe_open

    saved = torch.load(run / "state" / "optimizer.bin", weights_only=False)
    groups = {g["lr_mult"]: g for g in saved["param_groups"]}
    assert set(groups) == {1.0, 3.0}
    assert groups[1.0]["lr"] > 0 and groups[3.0]["lr"] == pytest.approx(3.0 * groups[1.0]["lr"])
    # the faster group is the vision tower, all of it and nothing else
    with safe_open(run / "final" / "model.safetensors", "pt") as f:
        names = list(f.keys())
    visual = [n for n in names if ".visual." in f".{n}"]
    assert len(groups[3.0]["params"]) == len(visual) > 0
    assert len(groups[1.0]["params"]) == len(names) - len(visual)
    with pytest.raises(ConfigError, match="vision_lr_mult"):
        load_config(ROOT / "trainer/configs/demo_tiny.yaml", ["vision_lr_mult=0"])


@pytest.mark.slow
def test_fit_stores_abstention_statistics_that_the_engine_loads(toy, tmp_path):
    """`ood_reference` > 0: the final checkpoint carries its OOD statistics, and the engine
    loaded from it scores images with them (so any checkpoint fit writes can abstain)."""
    from scoring.engine import Engine
    from scoring.ood import STATS_FILE
    from trainer.fit import fit

    final = fit(load_config(_micro_config(tmp_path, toy, max_steps=2, ood_reference=30)))
    assert (final / STATS_FILE).is_file()
    info = json.loads((final / "abvlmq.json").read_text())["ood"]
    assert info["file"] == STATS_FILE and info["n_fit"] + info["n_holdout"] == 30
    engine = Engine.load(final)
    assert engine.ood_stats is not None and engine.ood_stats.threshold == pytest.approx(
        info["threshold"], rel=1e-5
    )
    from trainer.phantoms import generate

    img, _ = generate(index=0, seed=123, size=112)
    [score] = engine.ood_scores([img])
    assert score is not None and score > 0
