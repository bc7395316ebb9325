"""A tiny randomly initialised encoder with the real tokenizer: the trained-model code paths in seconds."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoTokenizer, XLMRobertaConfig, XLMRobertaModel

from models.registry import DEFAULT_BASE_MODEL


def write_tiny_base(directory: Path, layers: int = 2) -> Path:
    """A `layers`-layer, 32-wide XLM-R encoder saved with e5's tokenizer in `directory` (from_pretrained loads it)."""
    tokenizer = AutoTokenizer.from_pretrained(DEFAULT_BASE_MODEL)
    torch.manual_seed(0)
    config = XLMRobertaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=514,
        pad_token_id=1,
    )
    XLMRobertaModel(config, add_pooling_layer=False).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
