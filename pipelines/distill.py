"""Distill koe-fast from koe-accurate: a student keeping a few of the teacher's transformer layers, trained on the
corpus train split to reproduce the teacher's outputs and pooled vectors as well as the gold labels.

    python -m pipelines.distill [--layers 0 1 2 3] [--epochs 3] [--max-minutes 40] [--teacher DIR] [--out DIR]

The teacher reads the train split once (its outputs are cached under data/distill/); nothing of dev or test is
distilled. As for the teacher: heads refitted on frozen vectors, calibration, thresholds and role choice on dev,
the test split scored once at the end (pipelines.train.finish).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import torch
from torch import nn

from models import multitask
from models.analyzers.neural import length_batches
from models.encoder import load_encoder
from models.multitask import MultiTaskModel
from models.windows import Windows
from pipelines import train
from pipelines.common import ROOT

DEFAULT_TEACHER = ROOT / "models" / "artifacts" / "koe-accurate"
DEFAULT_OUT = ROOT / "models" / "artifacts" / "koe-fast"
CACHE = ROOT / "data" / "distill"
VERSION = "1.0.0"
LAYER_LR, HEAD_LR = 1e-4, 1e-3  # whole layers are trained, not low-rank adapters: a tenth of the adapters' rate
TEMPERATURE = 2.0  # softens the teacher's distributions so its second choices teach too
SOFTMAX_TASKS = ("doc_sentiment", "stage", "sentence_sentiment", "sentence_stage")
SIGMOID_TASKS = ("topics", "emotions", "sentence_topics")


@dataclass
class TeacherOutputs:
    """The teacher's logits and pooled vectors for a list of documents: documents by row, sentences in reading order
    (`first_sentence[d]` is document d's first row among the sentences)."""

    documents: dict[str, torch.Tensor]
    sentences: dict[str, torch.Tensor]
    vectors: torch.Tensor
    sentence_vectors: torch.Tensor
    first_sentence: torch.Tensor

    def rows(self, numbers: Sequence[int], sentence_counts: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Document rows and sentence rows of the documents `numbers`, in that order."""
        sentence_rows = [
            torch.arange(int(self.first_sentence[d]), int(self.first_sentence[d]) + n)
            for d, n in zip(numbers, sentence_counts, strict=True)
        ]
        return torch.tensor(list(numbers)), torch.cat(sentence_rows)


def teacher_outputs(teacher: MultiTaskModel, tokenizer: Any, docs: Sequence[train.Example]) -> TeacherOutputs:
    sentences = [e.sentences for e in docs]
    started, done = time.monotonic(), 0

    def progress(_: Windows) -> None:
        nonlocal done
        done += 1
        if done % 50 == 0:
            print(f"teacher: batch {done}, {(time.monotonic() - started) / 60:.1f} min", flush=True)

    found = multitask.infer(teacher, tokenizer, sentences, length_batches(sentences), progress)
    counts = torch.tensor([len(s) for s in sentences])
    return TeacherOutputs(
        {task: torch.stack([f.document[task] for f in found]) for task in found[0].document},
        {task: torch.cat([f.sentences[task] for f in found]) for task in found[0].sentences},
        torch.stack([f.vector for f in found]),
        torch.cat([f.sentence_vectors for f in found]),
        torch.cumsum(counts, 0) - counts,
    )


def augmented(docs: Sequence[train.Example], mixes: int, seed: int) -> list[train.Example]:
    """More text for the teacher to label, made of the train split's own sentences (nothing of dev or test): every
    sentence of a longer document alone, and `mixes` documents of 2-5 sentences from different documents. They
    carry their sentences' gold sentiment; their document labels come from the teacher alone."""
    rng = random.Random(seed)
    alone = [
        train.Example([text], {}, [label])
        for e in docs
        if len(e.sentences) > 1
        for text, label in zip(e.sentences, e.sentence_sentiment, strict=True)
        if text.strip()
    ]
    pool = [(e.sentences[0], e.sentence_sentiment[0]) for e in alone]
    mixed = []
    for _ in range(mixes):
        picked = rng.sample(pool, rng.randint(2, 5))
        mixed.append(train.Example([text for text, _ in picked], {}, [label for _, label in picked]))
    return alone + mixed


def texts_digest(docs: Sequence[train.Example]) -> str:
    digest = hashlib.sha256()
    for e in docs:
        digest.update("\x1f".join(e.sentences).encode() + b"\x1e")
    return digest.hexdigest()


def cached_teacher_outputs(
    teacher: MultiTaskModel, tokenizer: Any, docs: Sequence[train.Example], cache: Path
) -> TeacherOutputs:
    """The teacher's outputs on `docs`, computed once per teacher version and list of texts."""
    path = cache / f"teacher-{teacher.spec.version}-{texts_digest(docs)[:16]}.pt"
    if path.exists():
        return TeacherOutputs(**torch.load(path))
    outputs = teacher_outputs(teacher, tokenizer, docs)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(vars(outputs), path)
    return outputs


def student_of(teacher: MultiTaskModel, layers: Sequence[int], name: str, version: str) -> MultiTaskModel:
    """A copy of the teacher cut to `layers`, its heads copied too; the embeddings stay the base's, frozen (the
    student stores only its layers and heads)."""
    spec = copy.deepcopy(teacher.spec)
    spec.name, spec.version, spec.student_layers, spec.lora_rank = name, version, list(layers), 0
    spec.temperatures, spec.thresholds, spec.provenance, spec.aspect_layers = {}, {}, {}, []  # no aspect tagger
    encoder = multitask.keep_layers(copy.deepcopy(teacher.encoder), layers)
    student = MultiTaskModel(encoder, spec)
    student.heads.load_state_dict(teacher.heads.state_dict())
    # its layers are trained; its embeddings are read from the base at load time, so they must stay the base's
    for name, parameter in encoder.named_parameters():
        parameter.requires_grad_(not name.startswith("embeddings."))
    return student


def soft_loss(student: dict[str, torch.Tensor], teacher: dict[str, torch.Tensor]) -> torch.Tensor:
    """How far the student's outputs are from the teacher's: KL at TEMPERATURE for the single-label tasks (scaled
    by T² to keep its gradient comparable), cross-entropy against the teacher's probabilities for the multi-label."""
    loss = torch.zeros(())
    for task in SOFTMAX_TASKS:
        log_student = nn.functional.log_softmax(student[task] / TEMPERATURE, dim=-1)
        log_teacher = nn.functional.log_softmax(teacher[task] / TEMPERATURE, dim=-1)
        kl = nn.functional.kl_div(log_student, log_teacher, log_target=True, reduction="batchmean")
        loss = loss + TEMPERATURE**2 * kl
    for task in SIGMOID_TASKS:
        loss = loss + nn.functional.binary_cross_entropy_with_logits(student[task], torch.sigmoid(teacher[task]))
    return loss


def vector_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """1 − cosine between pooled vectors: what tenant heads and nearest-description topics read."""
    return (1 - nn.functional.cosine_similarity(student, teacher, dim=-1)).mean()


def objective_for(outputs: TeacherOutputs, docs: Sequence[train.Example]) -> train.Objective:
    """Gold loss + distance to the teacher's outputs + distance to its document and sentence vectors."""
    number = {id(e): d for d, e in enumerate(docs)}

    def objective(model: MultiTaskModel, windows: Windows, batch: Sequence[train.Example]) -> torch.Tensor:
        documents, sentences = model.pooled(windows)
        out = model.read(model.dropout(documents), model.dropout(sentences))
        doc_rows, sentence_rows = outputs.rows([number[id(e)] for e in batch], [len(e.sentences) for e in batch])
        teacher = {task: v[doc_rows] for task, v in outputs.documents.items()}
        teacher |= {task: v[sentence_rows] for task, v in outputs.sentences.items()}
        return (
            train.loss_of(out, batch)
            + soft_loss(out, teacher)
            + vector_loss(documents, outputs.vectors[doc_rows])
            + vector_loss(sentences, outputs.sentence_vectors[sentence_rows])
        )

    return objective


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default=str(train.DEFAULT_BASE), help="local directory or hub id of the encoder")
    parser.add_argument("--teacher", type=Path, default=DEFAULT_TEACHER)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--layers", type=int, nargs="+", default=[0, 1, 2, 3], help="teacher layers the student keeps")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=16, help="documents per step")
    parser.add_argument("--max-minutes", type=float, default=40.0)
    parser.add_argument("--limit", type=int, default=None, help="distill on the first N documents (smoke runs)")
    parser.add_argument(
        "--mixes",
        type=int,
        default=0,
        help="also N documents mixed from train sentences (each sentence of a longer document is used alone too)",
    )
    parser.add_argument("--cache", type=Path, default=CACHE, help="where the teacher's outputs are kept")
    args = parser.parse_args(argv)
    torch.manual_seed(train.SEED)
    split = train.splits()
    encoder, tokenizer = load_encoder(args.base)
    teacher = multitask.load(args.teacher, encoder)
    labelled = train.examples(split["train"][: args.limit], teacher.spec)
    train_docs = labelled + augmented(labelled, args.mixes, train.SEED)
    outputs = cached_teacher_outputs(teacher, tokenizer, train_docs, args.cache)
    student = student_of(teacher, args.layers, "koe-fast", f"{VERSION}+{date.today():%Y%m%d}")
    teacher_name = f"{teacher.spec.name} {teacher.spec.version}"
    del teacher
    report = train.train(
        student,
        tokenizer,
        train_docs,
        epochs=args.epochs,
        batch_size=args.batch_size,
        max_minutes=args.max_minutes,
        seed=train.SEED,
        objective=objective_for(outputs, train_docs),
        rates=(LAYER_LR, HEAD_LR),
    )
    train.finish(
        student,
        tokenizer,
        split,
        args.out,
        seed=train.SEED,
        teacher=teacher_name,
        training=report,
        train_documents=len(labelled),
        train_sentences=sum(len(e.sentences) for e in labelled),
        augmented_documents=len(train_docs) - len(labelled),
        head_refit=train.refit(student, tokenizer, labelled, train.examples(split["dev"], student.spec)),
    )


if __name__ == "__main__":
    main()
