"""Train the aspect–opinion tagger of a saved model on its frozen encoder's token states, and measure it.

    python -m pipelines.aspects [--model models/artifacts/koe-accurate] [--epochs 15]

Data: the corpus items with aspect labels ([aspect term, opinion term, polarity]), split as for every other task
(by writing batch). The encoder and heads are untouched, so the model's other outputs stay bit-identical; the
tagger is saved beside them (`aspects.safetensors`, a new weights digest and so a new version). Deterministic
(seeded); the epoch kept is the one with the best dev aspect F1, and the test split is scored once, at the end.

Metrics are exact character spans: an aspect counts when its span equals the labelled one; `aspect+polarity`
also needs the polarity; `triple` also the paired opinion's span. Labellers marked the main aspect(s) of an item,
not every one, so precision is a lower bound; `aspect overlap recall` (any shared character) shows how often the
tagger finds the labelled aspect at all, and `token ceiling` how many labelled spans token boundaries can express.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from itertools import accumulate
from pathlib import Path
from typing import Any

import torch
from torch import nn

from models import multitask
from models.aspects import (
    IGNORE,
    TAGS,
    AspectTagger,
    Span,
    above,
    decode,
    document_tags,
    gold_spans,
    pair,
    spans_with_scores,
    token_tags,
)
from models.encoder import load_encoder
from models.registry import ARTIFACTS, DEFAULT_BASE_MODEL
from models.windows import pack
from pipelines.train import splits

SEED = 0
BATCH_DOCUMENTS = 16  # documents per encoder pass when the token states are computed
BATCH_WINDOWS = 32  # windows per tagger step


@dataclass
class Item:
    """A labelled document: its sentences, labelled pairs as character spans, and its tokens' offsets."""

    sentences: list[str]
    gold: list[tuple[Span, Span]]
    offsets: list[tuple[int, int]]

    @property
    def text(self) -> str:
        return "".join(self.sentences)


@dataclass
class Window:
    states: torch.Tensor  # [length, hidden]: the window's own tokens, frame included, no padding
    tags: torch.Tensor  # [length]: gold tag numbers, IGNORE on the frame
    item: int
    tokens: torch.Tensor  # [length]: each position's token number in its document, -1 on the frame


@torch.inference_mode()
def token_states(
    model: multitask.MultiTaskModel, tokenizer: Any, rows: Sequence[dict[str, Any]]
) -> tuple[list[Item], list[Window]]:
    """The frozen encoder's states of every window of the labelled rows, with gold tags."""
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]["text"]))
    items: list[Item | None] = [None] * len(rows)
    windows = []
    for start in range(0, len(order), BATCH_DOCUMENTS):
        batch = order[start : start + BATCH_DOCUMENTS]
        sentences = [[s for s, _ in rows[i]["sentences"]] for i in batch]
        packed = pack(tokenizer, sentences, model.spec.max_length)
        _, hidden = model.encode_for_tagger(packed)
        width = packed.input_ids.shape[1]
        owners = packed.document_of_token.view(-1, width)
        numbers = packed.token_of_position.view(-1, width)
        tags = []
        for k, i in enumerate(batch):
            gold = gold_spans("".join(sentences[k]), rows[i]["aspects"])
            items[i] = Item(sentences[k], gold, packed.offsets[k])
            tags.append(token_tags(packed.offsets[k], [s for p in gold for s in p]))
        for w in range(hidden.shape[0]):
            k, length = int(owners[w][0]), int(packed.attention_mask[w].sum())
            gold_tags = [tags[k][t] if t >= 0 else IGNORE for t in numbers[w][:length].tolist()]
            windows.append(Window(hidden[w, :length].clone(), torch.tensor(gold_tags), batch[k], numbers[w, :length]))
    return [i for i in items if i is not None], windows


def padded(windows: Sequence[Window]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """States, gold tags and attention mask of windows padded to the longest."""
    width = max(len(w.tags) for w in windows)
    states = torch.zeros(len(windows), width, windows[0].states.shape[-1])
    tags = torch.full((len(windows), width), IGNORE)
    mask = torch.zeros(len(windows), width, dtype=torch.long)
    for k, w in enumerate(windows):
        states[k, : len(w.tags)], tags[k, : len(w.tags)], mask[k, : len(w.tags)] = w.states, w.tags, 1
    return states, tags, mask


def steps(windows: Sequence[Window], rng: random.Random) -> list[list[Window]]:
    """Windows of similar length together, the batches shuffled."""
    ordered = sorted(windows, key=lambda w: len(w.tags))
    batches = [ordered[i : i + BATCH_WINDOWS] for i in range(0, len(ordered), BATCH_WINDOWS)]
    rng.shuffle(batches)
    return batches


@torch.no_grad()
def predict(tagger: AspectTagger, items: Sequence[Item], windows: Sequence[Window]) -> list[dict[Span, float]]:
    """The spans (with scores) the tagger finds in each item."""
    tagger.eval()
    found, owners, numbers = [], [], []
    for batch in steps(windows, random.Random(SEED)):
        states, _, mask = padded(batch)
        probs = torch.softmax(tagger(states, mask), dim=-1)
        for k, w in enumerate(batch):
            found.append(probs[k, : len(w.tags)])
            owners.append(torch.full_like(w.tokens, w.item))
            numbers.append(w.tokens)
    per_item = document_tags(
        torch.cat(found), torch.cat(owners), torch.cat(numbers), [len(item.offsets) for item in items]
    )
    return [spans_with_scores(item.text, item.offsets, p) for item, p in zip(items, per_item, strict=True)]


def scores(items: Sequence[Item], found: Sequence[dict[Span, float]]) -> dict[str, float]:
    """Exact-span F1 of aspects, aspects with polarity, opinions and whole triples; overlap recall; the ceiling."""
    hits = {"aspect": 0, "aspect+polarity": 0, "opinion": 0, "triple": 0, "overlap": 0, "ceiling": 0}
    predicted = {"aspect": 0, "opinion": 0}
    labelled = {"aspect": 0, "opinion": 0}
    for item, spans in zip(items, found, strict=True):
        gold_aspects = {(a.start, a.end): a.kind for a, _ in item.gold}
        gold_opinions = {(o.start, o.end) for _, o in item.gold}
        gold_triples = {(a.start, a.end, o.start, o.end, a.kind) for a, o in item.gold}
        aspects = {(s.start, s.end): s.kind for s in spans if s.kind != "OP"}
        opinions = {(s.start, s.end) for s in spans if s.kind == "OP"}
        starts = list(accumulate((len(s) for s in item.sentences[:-1]), initial=0))
        triples = {
            (p.aspect_start, p.aspect_end, p.opinion_start, p.opinion_end, aspects[(p.aspect_start, p.aspect_end)])
            for p in pair(item.text, spans, starts)
        }
        hits["aspect"] += len(gold_aspects.keys() & aspects.keys())
        hits["aspect+polarity"] += sum(aspects.get(k) == kind for k, kind in gold_aspects.items())
        hits["opinion"] += len(gold_opinions & opinions)
        hits["triple"] += len(gold_triples & triples)
        hits["overlap"] += sum(any(s < e0 and e > s0 for s, e in aspects) for s0, e0 in gold_aspects)
        expressible = decode(item.text, item.offsets, token_tags(item.offsets, [s for p in item.gold for s in p]))
        hits["ceiling"] += len(gold_aspects.keys() & {(s.start, s.end) for s in expressible})
        predicted["aspect"] += len(aspects)
        predicted["opinion"] += len(opinions)
        labelled["aspect"] += len(gold_aspects)
        labelled["opinion"] += len(gold_opinions)

    def f1(hit: int, kind: str) -> float:
        return round(2 * hit / max(predicted[kind] + labelled[kind], 1), 3)

    return {
        "aspect_f1": f1(hits["aspect"], "aspect"),
        "aspect_polarity_f1": f1(hits["aspect+polarity"], "aspect"),
        "opinion_f1": f1(hits["opinion"], "opinion"),
        "triple_f1": f1(hits["triple"], "aspect"),
        "aspect_overlap_recall": round(hits["overlap"] / max(labelled["aspect"], 1), 3),
        "token_ceiling_recall": round(hits["ceiling"] / max(labelled["aspect"], 1), 3),
        "items": len(items),
        "labelled_aspects": labelled["aspect"],
        "predicted_aspects": predicted["aspect"],
    }


def fit(
    train: Sequence[Window], dev: tuple[Sequence[Item], Sequence[Window]], hidden: int, epochs: int
) -> tuple[AspectTagger, list[dict[str, Any]]]:
    """Train for `epochs`, keeping the weights of the epoch with the best dev aspect F1."""
    torch.manual_seed(SEED)
    rng = random.Random(SEED)
    tagger = AspectTagger(hidden)
    optimizer = torch.optim.AdamW(tagger.parameters(), lr=1e-3, weight_decay=0.01)
    loss_of = nn.CrossEntropyLoss(ignore_index=IGNORE)
    best: tuple[float, dict[str, torch.Tensor]] = (-1.0, {})
    history = []
    for epoch in range(1, epochs + 1):
        started, total = time.monotonic(), 0.0
        batches = steps(train, rng)
        for batch in batches:
            tagger.train()
            states, tags, mask = padded(batch)
            loss = loss_of(tagger(states, mask).reshape(-1, len(TAGS)), tags.reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item()
        dev_scores = scores(dev[0], predict(tagger, *dev))
        history.append({"epoch": epoch, "loss": round(total / len(batches), 4), **dev_scores})
        print(
            f"epoch {epoch}: loss {total / len(batches):.4f}, dev {dev_scores}, {time.monotonic() - started:.0f} s",
            flush=True,
        )
        if dev_scores["aspect_f1"] > best[0]:
            best = (dev_scores["aspect_f1"], {k: v.clone() for k, v in tagger.state_dict().items()})
    tagger.load_state_dict(best[1])
    return tagger.eval(), history


THRESHOLDS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)  # least aspect score, chosen on dev


def choose_threshold(items: Sequence[Item], found: Sequence[dict[Span, float]]) -> tuple[float, dict[str, float]]:
    """The least score an aspect term needs, by dev aspect F1 (the lower on a tie), and the F1 at each."""
    by = {t: scores(items, [above(f, t) for f in found])["aspect_f1"] for t in THRESHOLDS}
    return max(THRESHOLDS, key=lambda t: (by[t], -t)), {str(t): f1 for t, f1 in by.items()}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=ARTIFACTS / "koe-accurate", help="a saved model directory")
    parser.add_argument("--base-model", default=DEFAULT_BASE_MODEL)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument(
        "--keep-tagger",
        action="store_true",
        help="do not train: choose the model's score threshold for its present tagger on dev, score test once",
    )
    parser.add_argument(
        "--layers",
        default=None,
        help="encoder outputs the tagger reads, side by side; default: the middle layer and the last (6,12 for "
        "koe-accurate, chosen on dev: docs/evaluation.md)",
    )
    args = parser.parse_args(argv)
    torch.manual_seed(SEED)
    encoder, tokenizer = load_encoder(args.base_model)
    model = multitask.load(args.model, encoder)
    had_tagger = model.aspects is not None
    if args.keep_tagger and model.aspects is None:
        parser.error(f"--keep-tagger: {args.model} has no aspect tagger")
    depth = int(getattr(model.encoder, "config").num_hidden_layers)  # noqa: B009
    layers = args.layers or f"{depth // 2},{depth}"
    if not args.keep_tagger:
        model.spec.aspect_layers = [int(i) for i in layers.split(",")]
    if not all(0 <= i <= depth for i in model.spec.aspect_layers):
        parser.error(f"--layers {layers}: the encoder's outputs are numbered 0 (embeddings) to {depth}")
    needed = ("dev", "test") if args.keep_tagger else ("train", "dev", "test")
    labelled = {name: [r for r in rows if r.get("aspects")] for name, rows in splits().items() if name in needed}
    started = time.monotonic()
    data = {name: token_states(model, tokenizer, rows) for name, rows in labelled.items()}
    print(f"token states of {sum(len(i) for i, _ in data.values())} items in {time.monotonic() - started:.0f} s")
    spec = model.spec
    report = spec.provenance.get("aspects", {}) if args.keep_tagger else {}
    if args.keep_tagger:
        assert model.aspects is not None
        tagger = model.aspects
    else:
        tagger, history = fit(data["train"][1], data["dev"], data["train"][1][0].states.shape[-1], args.epochs)
        report = {
            "tagger": f"BiGRU over the frozen encoder's token states (outputs {layers} side by side), "
            f"{sum(p.numel() for p in tagger.parameters()):,} parameters",
            "items": {name: len(items) for name, (items, _) in data.items()},
            "epoch_kept": max(history, key=lambda h: h["aspect_f1"])["epoch"],
            "minutes": round((time.monotonic() - started) / 60, 1),
            "dev_metrics": max(history, key=lambda h: h["aspect_f1"]),
        }
    threshold, dev_by_threshold = choose_threshold(data["dev"][0], predict(tagger, *data["dev"]))
    spec.thresholds[multitask.ASPECT_THRESHOLD] = threshold
    test = scores(data["test"][0], [above(f, threshold) for f in predict(tagger, *data["test"])])
    retrained = had_tagger and not args.keep_tagger
    number = multitask.release(spec.version) if retrained else multitask.next_minor(spec.version)
    spec.version = f"{number}+{date.today():%Y%m%d}"
    spec.provenance["aspects"] = {
        **report,
        "threshold": threshold,
        "dev_aspect_f1_by_threshold": dev_by_threshold,
        "test_metrics": test,
    }
    multitask.save_aspects(tagger, spec, args.model)
    from pipelines.train import model_card

    (args.model / "MODEL_CARD.md").write_text(model_card(spec), encoding="utf-8")
    print(json.dumps({"saved": str(args.model), "version": spec.version, **spec.provenance["aspects"]}, indent=2))


if __name__ == "__main__":
    main()
