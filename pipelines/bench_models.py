"""Sentences per second of the trained models, taken apart: the encoder alone, the model (tokenizing and packing,
the encoder, the heads, the aspect tagger) and the whole analysis pipeline, in calls of 256 sentences and of one
(an API request: its latency is 1 / sentences/s), with the encoder's floating-point work per sentence and the rate
it ran at, so that a speed target can be checked against what the machine can do at all.

    python -m pipelines.bench models [--sentences 2000] [--analyzer accurate fast] [--int8] [--float32]
    python -m pipelines.bench models --steady [--rounds 2]   # a service's steady state (see steady_state)

Each model runs as it would be served (bfloat16 on a CPU with AMX or AVX512_BF16, else float32); --int8 and
--float32 add those. The floating-point work is counted on float32 (torch's FlopCounterMode), the same work whatever
the arithmetic.

The sentences are the corpus's own (the first N non-empty ones in corpus order), each analyzed as a document of its
own, as the evaluation's "sentences alone" rows do.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from models import multitask, xlmr
from models.analyzers.neural import NeuralModel, length_batches
from models.document import prepare
from models.pipeline import AnalysisInput, AnalysisPipeline
from models.registry import ModelOptions, build_pipeline
from models.windows import pack
from pipelines import corpus
from pipelines.common import peak_rss_mib, table

HEADERS = ["model", "stage", "sentences", "seconds", "sentences/s", "encoder GFLOP per 1,000 sentences", "GFLOP/s"]
CHUNK = 256  # sentences per call to the pipeline, as the evaluation sends them


def corpus_sentences(n: int) -> list[str]:
    return [text for item in corpus.load()[0] for text, _ in item.sentences if text.strip()][:n]


def timed(run: Callable[[], Any]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def in_calls(pipeline: AnalysisPipeline, texts: Sequence[str], size: int) -> None:
    """`texts` through the pipeline in calls of `size`, each text a document of its own."""
    for i in range(0, len(texts), size):
        pipeline.analyze([AnalysisInput(t) for t in texts[i : i + size]])


def model_of(pipeline: AnalysisPipeline) -> NeuralModel:
    found = {getattr(a, "model", None) for a in (pipeline.sentiment, pipeline.emotions)} - {None}
    if len(found) != 1:
        raise SystemExit("the pipeline has no trained model")
    (model,) = found
    assert isinstance(model, NeuralModel)
    return model


def encoder_gflop(name: str, texts: Sequence[str]) -> float:
    """GFLOP of the model's encoder per sentence, counted on its plain float32 layers: torch counts no quantized
    product, nor the packed ones the served encoder makes (xlmr.PackedLinear)."""
    options = ModelOptions()
    base, tokenizer = xlmr.load(options.base_model)
    model = multitask.load(options.artifacts / f"koe-{name}", base)
    documents = [[text] for text in texts]
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        for batch in length_batches(documents):
            w = pack(tokenizer, [documents[d] for d in batch], model.spec.max_length)
            model.encoder(input_ids=w.input_ids, attention_mask=w.attention_mask)
    return counter.get_total_flops() / len(texts) / 1e9


def bench_model(
    name: str, texts: Sequence[str], gflop_per_sentence: float, *, quantize: bool = False, bfloat16: bool | None = None
) -> list[list[object]]:
    pipeline = build_pipeline(name, options=ModelOptions(quantize=quantize, bfloat16=bfloat16))
    model = model_of(pipeline)
    label = name + model.arithmetic
    documents = [[text] for text in texts]
    batches = list(length_batches(documents))
    windows = [pack(model.tokenizer, [documents[d] for d in batch], model.spec.max_length) for batch in batches]
    encoder = model.model.encoder
    pipeline.analyze([AnalysisInput(t) for t in texts[:CHUNK]])  # warm-up: dictionaries, first allocations

    def encode_all() -> None:
        with torch.inference_mode():
            for w in windows:
                encoder(input_ids=w.input_ids, attention_mask=w.attention_mask)

    prepared = [prepare(t) for t in texts]
    stages = {
        "encoder alone (windows packed beforehand)": encode_all,
        "model: packing, encoder, heads, aspect tagger": lambda: model._predict(prepared),
        "whole pipeline (normalize, split, MeCab, rules, model, results)": lambda: in_calls(pipeline, texts, CHUNK),
        "whole pipeline, one sentence per call (as single API requests)": lambda: in_calls(pipeline, texts, 1),
    }
    flops = gflop_per_sentence * len(texts)
    rows: list[list[object]] = []
    for stage, run in stages.items():
        seconds = timed(run)
        rows.append(
            [label, stage, len(texts), seconds, len(texts) / seconds, gflop_per_sentence * 1000, flops / seconds]
        )
    return rows


STEADY_HEADERS = [
    "model",
    "round",
    "sentences/s, calls of 256",
    "ms per one-sentence call",
    "seconds for the documents",
    "peak RSS MiB so far",
]


def steady_state(
    name: str, rounds: int, *, sentences: int = 1_500, singles: int = 300, documents: int = 1_000
) -> list[list[object]]:
    """A service's mix, `rounds` times in one process: `sentences` corpus sentences in calls of CHUNK, `singles`
    more one per call (API requests), the first `documents` corpus documents in calls of CHUNK. Later rounds show
    what a long-running process does once its kernels are compiled and its heap has grown (docs/evaluation.md,
    2026-11-27 night)."""
    pipeline = build_pipeline(name)
    label = name + model_of(pipeline).arithmetic
    texts = corpus_sentences(sentences + singles)
    whole = [item.text for item in corpus.load()[0]][:documents]

    rows: list[list[object]] = []
    for n in range(1, rounds + 1):
        batched = timed(lambda: in_calls(pipeline, texts[:sentences], CHUNK))
        single = timed(lambda: in_calls(pipeline, texts[sentences:], 1))
        documents_seconds = timed(lambda: in_calls(pipeline, whole, CHUNK))
        rows.append([label, n, sentences / batched, single / singles * 1000, documents_seconds, peak_rss_mib()])
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=int, default=2_000)
    parser.add_argument("--analyzer", nargs="+", default=["accurate", "fast"])
    parser.add_argument("--int8", action="store_true", help="also each model with int8 dynamic quantization")
    parser.add_argument("--float32", action="store_true", help="also each model in float32 where bfloat16 is served")
    parser.add_argument("--steady", action="store_true", help="a service's steady state instead (steady_state)")
    parser.add_argument("--rounds", type=int, default=2, help="with --steady: rounds of the mix in one process")
    args = parser.parse_args(argv)
    if args.steady:
        steady = []
        for name in args.analyzer:  # each in a new process: its own kernels, heap and peak
            with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
                steady += pool.submit(steady_state, name, args.rounds).result()
        print(table(STEADY_HEADERS, steady))
        return
    texts = corpus_sentences(args.sentences)
    print(
        f"{len(texts)} corpus sentences, {sum(map(len, texts)) / len(texts):.1f} characters on average, "
        f"torch threads: {torch.get_num_threads()}"
    )
    variants: list[dict[str, Any]] = [{}]  # as served
    variants += [{"quantize": True, "bfloat16": False}] if args.int8 else []
    variants += [{"bfloat16": False}] if args.float32 and xlmr.native_bfloat16() else []
    rows = []
    for name in args.analyzer:
        gflop = encoder_gflop(name, texts)
        for variant in variants:
            stages = bench_model(name, texts, gflop, **variant)
            print(table(HEADERS, stages), flush=True)
            rows += stages
    print(table(HEADERS, rows))


if __name__ == "__main__":
    main()
