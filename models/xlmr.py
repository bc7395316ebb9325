"""The XLM-RoBERTa encoder for serving, in plain torch: the same modules, parameter names and arithmetic as
transformers' XLMRobertaModel (outputs equal to float rounding: tests/models/test_xlmr.py), without importing
transformers, whose import alone took ≈ 1.4 s and 150 MiB of every serving process. Training, hub ids and other
architectures load through transformers' `from_pretrained` (models.encoder.load_encoder); this loads a local
directory written by `save_pretrained` (config.json, model.safetensors, tokenizer.json)."""

from __future__ import annotations

import functools
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

import torch
import torch.nn.functional as F
from safetensors import safe_open
from tokenizers import Tokenizer
from torch import nn

ARCHITECTURES = ("xlm-roberta",)


@dataclass
class Config:
    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float
    pad_token_id: int

    @classmethod
    def read(cls, directory: Path) -> Config:
        raw = json.loads((directory / "config.json").read_text(encoding="utf-8"))
        return cls(**{name: raw[name] for name in cls.__dataclass_fields__})


@dataclass
class Output:
    last_hidden_state: torch.Tensor
    hidden_states: HiddenStates | None = None


class HiddenStates(Sequence[torch.Tensor]):
    """transformers' hidden_states (the embeddings, then every layer's output: padded, float32), each made when
    read: the aspect tagger reads two of koe-accurate's 13, and each costs a conversion and a padding."""

    def __init__(self, states: list[torch.Tensor], tokens: RealTokens, last: torch.Tensor) -> None:
        self._states, self._tokens, self._last = states, tokens, last

    def __len__(self) -> int:
        return len(self._states)

    @overload
    def __getitem__(self, index: int) -> torch.Tensor: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[torch.Tensor, ...]: ...
    def __getitem__(self, index: int | slice) -> torch.Tensor | tuple[torch.Tensor, ...]:
        if isinstance(index, slice):
            return tuple(self[i] for i in range(len(self))[index])
        if index in (-1, len(self) - 1):
            return self._last
        return self._tokens.padded(self._states[index].float())


class Embeddings(nn.Module):
    def __init__(self, c: Config) -> None:
        super().__init__()
        self.padding_idx = c.pad_token_id
        self.word_embeddings = _unset_embedding(c.vocab_size, c.hidden_size, c.pad_token_id)
        self.position_embeddings = _unset_embedding(c.max_position_embeddings, c.hidden_size, c.pad_token_id)
        self.token_type_embeddings = _unset_embedding(c.type_vocab_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        # RoBERTa numbers the positions of real tokens from padding_idx + 1; padding keeps padding_idx
        real = input_ids.ne(self.padding_idx).int()
        positions = torch.cumsum(real, dim=1).type_as(real) * real + self.padding_idx
        x = self.word_embeddings(input_ids) + self.position_embeddings(positions.long())
        x = x + self.token_type_embeddings.weight[0]
        return self.LayerNorm(x)


def _unset_embedding(rows: int, width: int, padding_idx: int | None = None) -> nn.Embedding:
    """An embedding table with no initial values: its weights are always loaded (load_model). nn.Embedding's own
    random initialization, even on the meta device, imports torch._dynamo: 1.9 s of every process's start."""
    return nn.Embedding.from_pretrained(torch.empty(rows, width), freeze=False, padding_idx=padding_idx)


@dataclass
class RealTokens:
    """Where a padded batch's real tokens are. The layers work on the real tokens only ([rows, hidden]): a batch of
    corpus sentences is 22 % padding, of documents 19 % (a long document's last window is mostly padding), and
    every dense layer would multiply it. Only attention sees the batch padded.

    Where the products are oneDNN's (packed weights, or bfloat16) the rows are the real tokens, then copies of the
    first up to one of a few counts (rows_for): oneDNN compiles a kernel per matrix shape (≈ 1 ms each) and keeps 32
    (ONEDNN_PRIMITIVE_CACHE_CAPACITY), so a token count that differed in every batch compiled anew in every batch.
    The copies are computed and never read. (MKL's float32 products on plain weights are compiled for no shape:
    there the rows are the real tokens.)"""

    positions: torch.Tensor  # flat positions (batch * length) of the real tokens
    rows: torch.Tensor  # positions, then copies of the first up to rows_for(len(positions))
    batch: int
    length: int
    mask: torch.Tensor  # [batch, 1, 1, length]: True where a key may be attended to

    @classmethod
    def of(cls, attention_mask: torch.Tensor, *, few_shapes: bool = False) -> RealTokens:
        batch, length = attention_mask.shape
        positions = attention_mask.reshape(-1).nonzero().squeeze(-1)
        extra = rows_for(len(positions)) - len(positions) if few_shapes else 0
        rows = torch.cat([positions, positions[:1].expand(extra)]) if extra else positions
        return cls(positions, rows, batch, length, attention_mask.bool()[:, None, None, :])

    def padded(self, x: torch.Tensor) -> torch.Tensor:
        """[rows, width] → [batch, length, width], zeros at the padding."""
        real = x[: len(self.positions)]
        out = x.new_zeros(self.batch * self.length, x.shape[-1]).index_copy_(0, self.positions, real)
        return out.view(self.batch, self.length, -1)

    def real(self, x: torch.Tensor) -> torch.Tensor:
        """[batch, length, width] → [rows, width]."""
        return x.reshape(-1, x.shape[-1]).index_select(0, self.rows)


def rows_for(tokens: int) -> int:
    """`tokens` rounded up to a multiple of 16, or above 128 to one of 8 sizes per doubling (at most 1/8 more rows,
    most of them on matrices so small that the product's cost is its call): the few shapes oneDNN then sees stay
    compiled."""
    step = max(16, 1 << max(0, tokens.bit_length() - 4))
    return -(-tokens // step) * step


class SelfAttention(nn.Module):
    def __init__(self, c: Config) -> None:
        super().__init__()
        self.heads, self.size = c.num_attention_heads, c.hidden_size // c.num_attention_heads
        self.query: nn.Module = nn.Linear(c.hidden_size, c.hidden_size)  # or a PackedLinear (Layer.pack_weights)
        self.key: nn.Module = nn.Linear(c.hidden_size, c.hidden_size)
        self.value: nn.Module = nn.Linear(c.hidden_size, c.hidden_size)

    def forward(self, x: torch.Tensor, tokens: RealTokens) -> torch.Tensor:
        def split(t: torch.Tensor) -> torch.Tensor:
            return tokens.padded(t).view(tokens.batch, tokens.length, self.heads, self.size).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=tokens.mask, scale=1 / math.sqrt(self.size))
        return tokens.real(out.transpose(1, 2).reshape(tokens.batch, tokens.length, self.heads * self.size))


class DenseNorm(nn.Module):
    """dense → residual → LayerNorm (BERT's SelfOutput and Output)."""

    def __init__(self, inputs: int, c: Config) -> None:
        super().__init__()
        self.dense: nn.Module = nn.Linear(inputs, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(x) + residual)


class Attention(nn.Module):
    def __init__(self, c: Config) -> None:
        super().__init__()
        self.self = SelfAttention(c)
        self.output = DenseNorm(c.hidden_size, c)

    def forward(self, x: torch.Tensor, tokens: RealTokens) -> torch.Tensor:
        return self.output(self.self(x, tokens), x)


class Intermediate(nn.Module):
    def __init__(self, c: Config) -> None:
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.intermediate_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.dense(x))  # exact (erf) GELU, config "gelu"


class PackedLinear(nn.Module):
    """An nn.Linear whose weights oneDNN reordered once into its own blocked layout, optionally with the exact GELU
    applied inside the product. oneDNN's bfloat16 product otherwise reorders the plain weights at every call, which
    for a one-sentence request's 16 rows costs as much as the arithmetic (384 × 1,536 weights: 78 µs a call plain,
    53 packed, on AVX512_BF16); in float32 oneDNN's packed products also beat MKL's on the plain weights (182 →
    107 µs for those 16 rows on AVX-512, 303 → 235 with oneDNN held to AVX2; docs/evaluation.md)."""

    def __init__(self, linear: nn.Module, *, gelu: bool = False) -> None:
        super().__init__()
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"PackedLinear packs an nn.Linear, not {type(linear).__name__}")
        self.packed = torch.ops.mkldnn._reorder_linear_weight(linear.weight.detach(), None)
        self.bias = linear.bias.detach() if linear.bias is not None else None
        self.activation = "gelu" if gelu else "none"
        self.algorithm = "none" if gelu else ""  # erf GELU, as config "gelu" and F.gelu's default

    @staticmethod
    @functools.cache
    def available(dtype: torch.dtype) -> bool:
        """Whether oneDNN multiplies packed `dtype` weights here: tried once on a small product (oneDNN refuses
        bfloat16 where the CPU would emulate it, as with AVX2 alone, and a build may lack oneDNN)."""
        if not torch.backends.mkldnn.is_available():
            return False
        try:
            packed = torch.ops.mkldnn._reorder_linear_weight(torch.ones(8, 8, dtype=dtype), None)
            found = torch.ops.mkldnn._linear_pointwise(torch.ones(2, 8, dtype=dtype), packed, None, "none", [], "")
        except (RuntimeError, AttributeError):
            return False
        return bool(torch.equal(found.float(), torch.full((2, 8), 8.0)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.mkldnn._linear_pointwise(x, self.packed, self.bias, self.activation, [], self.algorithm)


class Layer(nn.Module):
    def __init__(self, c: Config) -> None:
        super().__init__()
        self.attention = Attention(c)
        self.intermediate: nn.Module = Intermediate(c)
        self.output = DenseNorm(c.intermediate_size, c)

    def pack_weights(self) -> None:
        """Its products with weights packed once for oneDNN (PackedLinear), the intermediate GELU fused."""
        attention, intermediate = self.attention.self, self.intermediate
        assert isinstance(intermediate, Intermediate)
        attention.query, attention.key, attention.value = (
            PackedLinear(linear) for linear in (attention.query, attention.key, attention.value)
        )
        self.attention.output.dense = PackedLinear(self.attention.output.dense)
        self.intermediate = PackedLinear(intermediate.dense, gelu=True)
        self.output.dense = PackedLinear(self.output.dense)

    def forward(self, x: torch.Tensor, tokens: RealTokens) -> torch.Tensor:
        attended = self.attention(x, tokens)
        return self.output(self.intermediate(attended), attended)


class Stack(nn.Module):
    def __init__(self, c: Config) -> None:
        super().__init__()
        self.layer = nn.ModuleList(Layer(c) for _ in range(c.num_hidden_layers))


class XLMRobertaEncoder(nn.Module):
    """Token states of XLM-RoBERTa (no pooler: e5 mean-pools); `config`, `encoder.layer` and the parameter names
    are transformers', so adapters merge and layers are kept (models.multitask) as on its model."""

    def __init__(self, config: Config) -> None:
        super().__init__()
        self.config = config
        self.embeddings = Embeddings(config)
        self.encoder = Stack(config)
        self.layer_dtype = torch.float32
        self.weights_packed = False

    def run_in_bfloat16(self) -> None:
        """The transformer layers' weights and arithmetic in bfloat16, packed for oneDNN (pack_weights); the
        embeddings (read from the memory-mapped file) and the outputs stay float32, so pooling, heads and tagger are
        unchanged. Worth it only where the CPU multiplies bfloat16 matrices itself (native_bfloat16)."""
        self.encoder.to(torch.bfloat16)
        self.layer_dtype = torch.bfloat16
        self.pack_weights()

    def pack_weights(self) -> None:
        """For serving: the layers' products with weights packed once for oneDNN (PackedLinear), where it
        multiplies this dtype. The layers' nn.Linear modules are gone afterwards (no int8 quantization, no saving)."""
        # oneDNN keeps a compiled kernel per matrix shape, and batches come in many shapes: with its default of
        # 1,024 kept, analyzing 1,000 corpus documents in bfloat16 peaked at 1,574 MiB; with 32, 1,380 MiB at the
        # same speed. With a batch's rows in few sizes (RealTokens), the kernels 32 keep are those a workload needs.
        # Read once, at oneDNN's first kernel (available() runs one): set before it.
        os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "32")
        if PackedLinear.available(self.layer_dtype):
            for layer in self.encoder.layer:
                assert isinstance(layer, Layer)
                layer.pack_weights()
            self.weights_packed = True

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, output_hidden_states: bool = False
    ) -> Output:
        tokens = RealTokens.of(attention_mask, few_shapes=self.weights_packed or self.layer_dtype == torch.bfloat16)
        x = tokens.real(self.embeddings(input_ids))
        states = [x]
        x = x.to(self.layer_dtype)
        for layer in self.encoder.layer:
            x = layer(x, tokens)
            if output_hidden_states:
                states.append(x)
        last = tokens.padded(x.float())
        return Output(last_hidden_state=last, hidden_states=HiddenStates(states, tokens, last) if states[1:] else None)


def native_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 matrices in hardware: Intel AMX, or AVX-512's bfloat16 dot products
    (AMD Zen 4 and later, Intel Cooper Lake). oneDNN's bfloat16 products measured 4.4× float32's with AMX (1,061
    against 243 GFLOP/s for 4,096 × 384 by 384 × 1,536 on 2 cores) and 3.2× with AVX512_BF16 on an AMD EPYC (402
    against 125). Elsewhere bfloat16 is emulated and slower than float32 (67 against 6.9 ms on AVX2)."""
    return torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported()


def load_model(directory: Path) -> XLMRobertaEncoder:
    """The encoder with the directory's weights. Its tensors are read from the memory-mapped file into the module
    (the embedding rows a text never uses are never read)."""
    with torch.device("meta"):
        model = XLMRobertaEncoder(Config.read(directory))
    state: dict[str, torch.Tensor] = {}
    with safe_open(str(directory / "model.safetensors"), framework="pt") as weights:
        for key in weights.keys():  # noqa: SIM118 - safe_open is no mapping
            state[key.removeprefix("roberta.")] = weights.get_tensor(key)
    unknown = set(state) - set(model.state_dict())
    state = {k: v for k, v in state.items() if k not in unknown}  # a pooler, when the directory kept one
    model.load_state_dict(state, strict=True, assign=True)
    return model.eval()


class FastTokenizer:
    """What koe asks of a transformers fast tokenizer (models.windows.pack), from tokenizer.json alone."""

    def __init__(self, directory: Path) -> None:
        self.backend = Tokenizer.from_file(str(directory / "tokenizer.json"))
        settings = json.loads((directory / "tokenizer_config.json").read_text(encoding="utf-8"))
        self.cls_token_id = self._id(settings.get("cls_token", "<s>"))  # XLM-R's own, where the config is silent
        self.sep_token_id = self._id(settings.get("sep_token", "</s>"))
        self.pad_token_id = self._id(settings.get("pad_token", "<pad>"))

    def _id(self, token: str | dict[str, Any]) -> int:
        text = token["content"] if isinstance(token, dict) else token
        found = self.backend.token_to_id(text)
        if found is None:
            raise ValueError(f"tokenizer.json has no token {text!r}")
        return found

    def __call__(
        self,
        texts: str | list[str],
        *,
        add_special_tokens: bool = True,
        return_offsets_mapping: bool = False,
        verbose: bool = True,
    ) -> dict[str, Any]:
        single = isinstance(texts, str)
        batch = [texts] if isinstance(texts, str) else texts
        encodings = self.backend.encode_batch(batch, add_special_tokens=add_special_tokens)
        result: dict[str, Any] = {"input_ids": [e.ids for e in encodings]}
        if return_offsets_mapping:
            result["offset_mapping"] = [e.offsets for e in encodings]
        return {k: v[0] for k, v in result.items()} if single else result


def servable(directory: Path) -> bool:
    """Whether `directory` holds a model this module serves."""
    config = directory / "config.json"
    if not (config.is_file() and (directory / "model.safetensors").is_file()):
        return False
    if not ((directory / "tokenizer.json").is_file() and (directory / "tokenizer_config.json").is_file()):
        return False
    return json.loads(config.read_text(encoding="utf-8")).get("model_type") in ARCHITECTURES


def load(name_or_path: str | Path) -> tuple[nn.Module, Any]:
    """Encoder and tokenizer for serving: this module's for a local XLM-R directory, transformers' `from_pretrained`
    for a hub id or another architecture."""
    directory = Path(name_or_path)
    if directory.is_dir() and servable(directory):
        return load_model(directory), FastTokenizer(directory)
    from models.encoder import load_encoder  # imports transformers

    return load_encoder(name_or_path)
