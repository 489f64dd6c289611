"""Qwen2-VL-2B-Instruct's published architecture (its config.json, the sizes only): 28 text
layers of width 1536 with grouped-query attention (12 heads, 2 for keys and values) and an 8960
MLP; a 32-block, 1280-wide vision tower with 14 px patches merged 2 x 2. The paper's model.
Nothing here downloads anything: :mod:`trainer.state_size` builds it on PyTorch's meta device
and ``bench/gpu_engine.py`` with random weights, both from these numbers."""

TEXT = {
    "vocab_size": 151936,
    "hidden_size": 1536,
    "intermediate_size": 8960,
    "num_hidden_layers": 28,
    "num_attention_heads": 12,
    "num_key_value_heads": 2,
    "max_position_embeddings": 32768,
    "rms_norm_eps": 1e-6,
    "rope_parameters": {"rope_type": "default", "mrope_section": [16, 24, 24], "rope_theta": 1e6},
    "tie_word_embeddings": True,
}
VISION = {
    "depth": 32,
    "embed_dim": 1280,
    "hidden_size": 1536,
    "mlp_ratio": 4,
    "num_heads": 16,
    "patch_size": 14,
    "spatial_merge_size": 2,
    "temporal_patch_size": 2,
}
CONFIG = {"text_config": TEXT, "vision_config": VISION, "tie_word_embeddings": True}
