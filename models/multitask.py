"""koe's trained classifiers: the e5-small encoder with LoRA adapters and one small head per task (koe-accurate),
or a student keeping a few of its layers, distilled from it (koe-fast).

Saved as a directory: `adapter/` (peft save_pretrained) or, for a student, `layers.safetensors` (its transformer
layers); `heads.safetensors`; optionally `aspects.safetensors` (the aspect–opinion tagger, models.aspects); and
`koe_model.json` (labels, calibration temperatures, topic thresholds, hashes, metrics). The base encoder is not
saved here (a student reads its embeddings): it is rebuilt offline by `python -m pipelines.base_model` (or loaded
from a hub id / local directory).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from models.aspects import TAGS, AspectOpinion, AspectTagger, above, document_tags, pair, spans_with_scores
from models.emotions import EMOTIONS
from models.journey import STAGES
from models.windows import Windows, pack, segment_mean

SENTIMENT_DOC = ["positive", "neutral", "negative", "mixed"]
SENTIMENT_SENTENCE = ["positive", "neutral", "negative"]
SENTENCE_TASKS = ("sentence_sentiment", "topics", "stage")  # heads also applied to sentence vectors
ASPECTS_FILE = "aspects.safetensors"
ASPECT_THRESHOLD = "aspect"  # the thresholds key of the least score an aspect term needs (chosen on dev)


@dataclass
class ModelSpec:
    """Everything needed to rebuild and interpret a trained model."""

    name: str
    version: str
    base_model: str
    topics: list[str]
    doc_sentiment: list[str] = field(default_factory=lambda: list(SENTIMENT_DOC))
    sentence_sentiment: list[str] = field(default_factory=lambda: list(SENTIMENT_SENTENCE))
    stages: list[str] = field(default_factory=lambda: list(STAGES))
    emotions: list[str] = field(default_factory=lambda: list(EMOTIONS))
    max_length: int = 256
    lora_rank: int = 8
    # A distilled student keeps these layers of the base encoder, in this order, with its own trained weights
    # (layers.safetensors) over the base's embeddings. Empty: every layer, with the adapters.
    student_layers: list[int] = field(default_factory=list)
    # The encoder outputs the aspect tagger reads, concatenated (0: embeddings, 12: e5-small's last layer).
    # Empty: the last layer alone.
    aspect_layers: list[int] = field(default_factory=list)
    temperatures: dict[str, float] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)  # topic, emotion and aspect decision thresholds
    provenance: dict[str, Any] = field(default_factory=dict)  # data hash, base hash, date, metrics
    # Roles this model answers in the service; the others stay with the rule analyzers. Chosen on dev.
    serves: list[str] = field(default_factory=lambda: ["sentiment", "topics", "stage"])
    # Heads that are two layers (linear, GELU, linear) of this hidden width instead of one linear layer: chosen on
    # dev by pipelines.heads. Empty: every head linear.
    head_hidden: dict[str, int] = field(default_factory=dict)

    def head_sizes(self) -> dict[str, int]:
        return {
            "doc_sentiment": len(self.doc_sentiment),
            "sentence_sentiment": len(self.sentence_sentiment),
            "topics": len(self.topics),
            "stage": len(self.stages),
            "emotions": len(self.emotions),
        }


class MultiTaskModel(nn.Module):
    """Encoder over document windows → mean pooling per document and per sentence → one linear head per task.

    Each document is encoded once: its sentence vectors pool their own tokens in context, so sentence
    sentiment, topics and stage cost no second pass. Outputs: the document tasks, and `sentence_<task>`
    for the heads applied to sentences.
    """

    def __init__(self, encoder: nn.Module, spec: ModelSpec) -> None:
        super().__init__()
        self.encoder, self.spec = encoder, spec
        hidden = int(getattr(encoder, "config").hidden_size)  # noqa: B009  (nn.Module has no typed config)
        self.dropout = nn.Dropout(0.1)
        self.heads = nn.ModuleDict(
            {task: task_head(hidden, n, spec.head_hidden.get(task)) for task, n in spec.head_sizes().items()}
        )
        self.aspects: AspectTagger | None = None  # trained afterwards on the frozen encoder (pipelines.aspects)

    def encode(self, windows: Windows) -> torch.Tensor:
        """The encoder's final token states [windows, length, hidden]."""
        return self.encoder(input_ids=windows.input_ids, attention_mask=windows.attention_mask).last_hidden_state

    def encode_for_tagger(self, windows: Windows) -> tuple[torch.Tensor, torch.Tensor]:
        """The final token states, and what the aspect tagger reads: the layers of `spec.aspect_layers` side by
        side (an intermediate layer keeps more of the words than the last, tuned for pooled vectors)."""
        layers = self.spec.aspect_layers
        if not layers:
            final = self.encode(windows)
            return final, final
        out = self.encoder(
            input_ids=windows.input_ids, attention_mask=windows.attention_mask, output_hidden_states=True
        )
        return out.last_hidden_state, torch.cat([out.hidden_states[i] for i in layers], dim=-1)

    def pooled(self, windows: Windows) -> tuple[torch.Tensor, torch.Tensor]:
        """Document vectors and sentence vectors: what the heads read."""
        return self.pool(self.encode(windows), windows)

    def pool(self, hidden: torch.Tensor, windows: Windows) -> tuple[torch.Tensor, torch.Tensor]:
        documents = segment_mean(hidden, windows.document_of_token, windows.documents)
        return documents, segment_mean(hidden, windows.sentence_of_token, windows.sentences)

    def forward(self, windows: Windows) -> dict[str, torch.Tensor]:
        return self.read(*(self.dropout(v) for v in self.pooled(windows)))

    def read(self, documents: torch.Tensor, sentences: torch.Tensor) -> dict[str, torch.Tensor]:
        """The heads' logits for pooled document and sentence vectors."""
        out = {task: head(documents) for task, head in self.heads.items() if task != "sentence_sentiment"}
        for task in SENTENCE_TASKS:
            out[task if task.startswith("sentence_") else f"sentence_{task}"] = self.heads[task](sentences)
        return out


def task_head(inputs: int, outputs: int, hidden: int | None = None) -> nn.Module:
    """A task head: one linear layer, or with `hidden` two with a GELU between them."""
    if hidden is None:
        return nn.Linear(inputs, outputs)
    return nn.Sequential(nn.Linear(inputs, hidden), nn.GELU(), nn.Linear(hidden, outputs))


@dataclass
class DocumentLogits:
    """One document's outputs: logits per document task, and per sentence task one row per sentence; the pooled
    vectors the heads read (for similarity to texts no head was trained on, such as a tenant's topics)."""

    document: dict[str, torch.Tensor]
    sentences: dict[str, torch.Tensor]
    vector: torch.Tensor  # [hidden]
    sentence_vectors: torch.Tensor  # [sentences, hidden]
    aspects: list[AspectOpinion] | None = None  # offsets into the sentences joined; None: the model has no tagger


@torch.inference_mode()
def infer(
    model: MultiTaskModel,
    tokenizer: Any,
    documents: Sequence[Sequence[str]],
    batches: Iterable[Sequence[int]],
    after_batch: Callable[[Windows], None] = lambda windows: None,
) -> list[DocumentLogits]:
    """The logits of documents given as their sentences, in input order: one forward pass per batch of document
    numbers (similar lengths together: less padding). What serving and the training pipeline's evaluation share."""
    found: dict[int, DocumentLogits] = {}
    for batch in batches:
        windows = pack(tokenizer, [documents[d] for d in batch], model.spec.max_length)
        hidden, tagger_states = model.encode_for_tagger(windows) if model.aspects else (model.encode(windows), None)
        vectors, sentence_vectors = model.pool(hidden, windows)
        logits = model.read(vectors, sentence_vectors)
        aspects = (
            None if tagger_states is None else _aspects(model, tagger_states, windows, [documents[d] for d in batch])
        )
        after_batch(windows)
        first = 0
        for k, d in enumerate(batch):
            n = len(documents[d])
            found[d] = DocumentLogits(
                {task: v[k] for task, v in logits.items() if not task.startswith("sentence_")},
                {task: v[first : first + n] for task, v in logits.items() if task.startswith("sentence_")},
                vectors[k],
                sentence_vectors[first : first + n],
                aspects[k] if aspects is not None else None,
            )
            first += n
    return [found[d] for d in range(len(documents))]


def _aspects(
    model: MultiTaskModel, states: torch.Tensor, windows: Windows, documents: Sequence[Sequence[str]]
) -> list[list[AspectOpinion]]:
    """Each document's aspect–opinion pairs, from the tagger over the same forward pass as the heads."""
    assert model.aspects is not None
    probs = torch.softmax(model.aspects(states, windows.attention_mask).float(), dim=-1).reshape(-1, len(TAGS))
    per_document = document_tags(
        probs, windows.document_of_token, windows.token_of_position, [len(o) for o in windows.offsets]
    )
    found = []
    for sentences, offsets, tagged in zip(documents, windows.offsets, per_document, strict=True):
        text = "".join(sentences)
        starts = list(accumulate((len(s) for s in sentences[:-1]), initial=0))
        spans = above(spans_with_scores(text, offsets, tagged), model.spec.thresholds.get(ASPECT_THRESHOLD, 0.0))
        found.append(pair(text, spans, starts))
    return found


def with_lora(encoder: nn.Module, rank: int) -> nn.Module:
    """Trainable low-rank adapters on attention and feed-forward projections; the base stays frozen."""
    from peft import LoraConfig, get_peft_model  # training only: see merge_lora

    config = LoraConfig(
        r=rank, lora_alpha=2 * rank, lora_dropout=0.1, target_modules=["query", "key", "value", "dense"], bias="none"
    )
    return get_peft_model(encoder, config)


def keep_layers(encoder: nn.Module, layers: Sequence[int]) -> nn.Module:
    """`encoder` (an XLM-R/BERT-style model) cut in place to the transformer layers numbered `layers`."""
    stack = getattr(encoder, "encoder").layer  # noqa: B009
    if not layers or any(not 0 <= i < len(stack) for i in layers):
        raise ValueError(f"layers {list(layers)} are not a selection of the encoder's {len(stack)} layers")
    getattr(encoder, "encoder").layer = nn.ModuleList([stack[i] for i in layers])  # noqa: B009
    getattr(encoder, "config").num_hidden_layers = len(layers)  # noqa: B009
    return encoder


def _layer_tensors(encoder: nn.Module) -> dict[str, torch.Tensor]:
    return {f"encoder.layer.{k}": v for k, v in getattr(encoder, "encoder").layer.state_dict().items()}  # noqa: B009


def save(model: MultiTaskModel, spec: ModelSpec, directory: Path) -> None:
    """Adapters (or a student's layers), heads and spec; the version gets the digest of the saved weights, so that
    two different models never share a version (a stored analysis names the exact weights that scored it)."""
    directory.mkdir(parents=True, exist_ok=True)
    encoder = model.encoder
    if spec.student_layers:
        save_file({k: v.contiguous() for k, v in _layer_tensors(encoder).items()}, directory / "layers.safetensors")
    elif hasattr(encoder, "peft_config"):  # a peft model: its adapters (see with_lora)
        getattr(encoder, "save_pretrained")(str(directory / "adapter"))  # noqa: B009
    save_file(_contiguous(model.heads), directory / "heads.safetensors")
    if model.aspects is not None:
        save_file(_contiguous(model.aspects), directory / ASPECTS_FILE)
    stamp(spec, directory)


def save_aspects(tagger: AspectTagger, spec: ModelSpec, directory: Path) -> None:
    """Add an aspect tagger trained afterwards to a saved model (a new weights digest, so a new version)."""
    save_file(_contiguous(tagger), directory / ASPECTS_FILE)
    stamp(spec, directory)


def stamp(spec: ModelSpec, directory: Path) -> None:
    """Save the spec with a version naming the saved weights and every setting that decides an output."""
    spec.version = f"{_WEIGHTS_SUFFIX.sub('', spec.version)}.w{weights_digest(directory, spec)}"
    save_spec(spec, directory)


def release(version: str) -> str:
    """2.3.0+20261126.w27a7d0a9 → 2.3.0 (and 0.3.0.w27a7d0a9, a version saved without a date, → 0.3.0)."""
    return ".".join(version.split("+")[0].split(".")[:3])


def next_minor(version: str) -> str:
    """2.3.0+20261126.w27a7d0a9 → 2.4.0: the release number of a model that answers differently than before with the
    same base training (new heads, a tagger gained, a threshold chosen anew)."""
    major, minor, _ = release(version).split(".")
    return f"{major}.{int(minor) + 1}.0"


def _contiguous(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.contiguous() for k, v in module.state_dict().items()}


_WEIGHTS_SUFFIX = re.compile(r"\.w[0-9a-f]{8}$")


# What, besides the weights, decides a model's outputs: a threshold or temperature changed on dev is a new version.
DECIDING = ("temperatures", "thresholds", "serves", "aspect_layers", "student_layers", "max_length")


def weights_digest(directory: Path, spec: ModelSpec) -> str:
    """The first 8 hex digits of a sha256 over the adapter and head tensors and the spec's deciding settings (not
    the configs, card, provenance or version)."""
    digest = hashlib.sha256()
    for path in sorted(directory.rglob("*.safetensors")):
        digest.update(path.relative_to(directory).as_posix().encode())
        digest.update(path.read_bytes())
    deciding = {name: getattr(spec, name) for name in DECIDING}
    digest.update(json.dumps(deciding, sort_keys=True).encode())
    return digest.hexdigest()[:8]


def save_spec(spec: ModelSpec, directory: Path) -> None:
    (directory / "koe_model.json").write_text(json.dumps(asdict(spec), indent=2, ensure_ascii=False) + "\n")


def load_spec(directory: Path) -> ModelSpec:
    return ModelSpec(**json.loads((directory / "koe_model.json").read_text(encoding="utf-8")))


def load(directory: Path, encoder: nn.Module) -> MultiTaskModel:
    """Attach the saved adapters (merged for fast inference) or a student's layers, and the heads, to a freshly
    loaded base encoder."""
    spec = load_spec(directory)
    if spec.student_layers:
        encoder = keep_layers(encoder, spec.student_layers)
        saved = load_file(directory / "layers.safetensors")
        if saved.keys() != _layer_tensors(encoder).keys():
            raise ValueError(f"{directory}: layers.safetensors does not fit {len(spec.student_layers)} base layers")
        encoder.load_state_dict(saved, strict=False)
    elif (directory / "adapter").exists():
        encoder = merge_lora(encoder, directory / "adapter")
    model = MultiTaskModel(encoder, spec)
    model.heads.load_state_dict(load_file(directory / "heads.safetensors"))
    if (directory / ASPECTS_FILE).exists():
        width = int(getattr(encoder, "config").hidden_size) * max(1, len(spec.aspect_layers))  # noqa: B009
        model.aspects = AspectTagger(width)
        model.aspects.load_state_dict(load_file(directory / ASPECTS_FILE))
    return model.eval()


# peft's adapter settings that merge_lora does not implement: with any of them set, peft itself merges
_LORA_EXTRAS = (
    *("use_dora", "use_rslora", "fan_in_fan_out", "rank_pattern", "alpha_pattern", "modules_to_save"),
    *("layer_replication", "target_parameters", "trainable_token_indices", "lora_bias", "use_qalora"),
)


def merge_lora(encoder: nn.Module, adapter: Path) -> nn.Module:
    """Fold saved LoRA adapters into the encoder's weights, W + (alpha / r) B A, as peft's merge_and_unload does,
    without importing peft: its import pulls in transformers' generation code (loading koe-accurate: 5.1 → 4.1 s).
    Adapters that use any other peft feature are merged by peft itself."""
    config = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))
    plain = config.get("peft_type") == "LORA" and config.get("bias", "none") == "none"
    if not plain or any(config.get(key) for key in _LORA_EXTRAS):
        from peft import PeftModel

        return PeftModel.from_pretrained(encoder, adapter).merge_and_unload()
    scale = config["lora_alpha"] / config["r"]
    tensors = load_file(adapter / "adapter_model.safetensors")
    if unknown := [k for k in tensors if not k.endswith((".lora_A.weight", ".lora_B.weight"))]:
        raise ValueError(f"{adapter}: tensors merge_lora does not know: {unknown[:3]}")
    modules = dict(encoder.named_modules())
    with torch.no_grad():
        for key, down in tensors.items():
            if key.endswith(".lora_A.weight"):
                name = key.removesuffix(".lora_A.weight")
                weight = modules[name.removeprefix("base_model.model.")].weight
                assert isinstance(weight, torch.Tensor)
                weight += (tensors[f"{name}.lora_B.weight"] @ down) * scale
    return encoder
