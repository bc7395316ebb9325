"""fugashi + unidic-lite tokenization (models/tokenize.py): features, offsets, unknown words, tagger reuse."""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

import models.tokenize as tokenize_module
from models.tokenize import tokenize

TEXTS = [
    "食べました",
    "今日は  とても\n楽しかった　です",
    "店員さん\t\tの 態度\r\nが悪い",
    "改行\n\n\n\n続き",
    "   先頭と末尾にスペース   ",
    "家族👨‍👩‍👧で❤️最高",
    "半角ｶﾀｶﾅﾃﾞｽ。ＡＢＣ１２３も",
    "(´・ω・`)ショボーン",
    "English words and 日本語 mixed  together",
    "客: 届きません\n担当: 確認いたします\n客: お願いします",
]


def first(text: str, surface: str):
    return next(t for t in tokenize(text) if t.surface == surface)


def test_verb_lemma_pos_and_reading():
    tokens = tokenize("食べました")
    assert [t.surface for t in tokens] == ["食べ", "まし", "た"]
    verb = tokens[0]
    assert (verb.lemma, verb.pos, verb.reading) == ("食べる", "動詞", "タベ")
    assert verb.is_content
    assert [t.pos for t in tokens[1:]] == ["助動詞", "助動詞"]
    assert not tokens[1].is_content


@pytest.mark.parametrize(
    ("text", "surface", "lemma", "pos"),
    [
        ("美味しかったです", "美味しかっ", "美味しい", "形容詞"),
        ("とても良い", "とても", "迚も", "副詞"),
        ("いい店でした", "いい", "良い", "形容詞"),
        ("届かない", "届か", "届く", "動詞"),
        ("配送が遅い", "配送", "配送", "名詞"),
    ],
)
def test_unidic_lemmas(text, surface, lemma, pos):
    token = first(text, surface)
    assert (token.lemma, token.pos) == (lemma, pos)


def test_non_independent_verb_is_not_content():
    token = first("不満はありません", "あり")
    assert token.lemma == "有る"
    assert token.pos2 == "非自立可能"
    assert not token.is_content


@pytest.mark.parametrize("text", TEXTS)
def test_offsets_point_at_the_surface(text):
    tokens = tokenize(text)
    assert tokens
    assert all(text[t.start : t.end] == t.surface for t in tokens)
    assert all(a.end <= b.start for a, b in itertools.pairwise(tokens))


def test_spaces_and_newlines_are_skipped_but_counted():
    text = "今日は  とても\n楽しかった"
    tokens = tokenize(text)
    assert [t.surface for t in tokens] == ["今日", "は", "とても", "楽しかっ", "た"]
    assert first(text, "とても").start == 5
    assert first(text, "楽しかっ").start == 9


def test_offset_argument_shifts_every_token():
    text = "配送が遅い"
    plain, shifted = tokenize(text), tokenize(text, offset=100)
    assert [(t.start + 100, t.end + 100) for t in plain] == [(t.start, t.end) for t in shifted]


@pytest.mark.parametrize(("text", "surface"), [("ワロタwww", "www"), ("最高👍😊です", "👍😊")])
def test_unknown_words_keep_their_surface_as_lemma(text, surface):
    token = first(text, surface)
    assert token.lemma == surface
    assert token.reading == ""


def test_empty_and_blank_text_has_no_tokens():
    assert tokenize("") == []
    assert tokenize(" \n\t ") == []


def test_the_tagger_is_reused_within_a_thread(monkeypatch):
    created = []
    real = tokenize_module.fugashi.Tagger

    def counting_tagger(*args, **kwargs):
        created.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(tokenize_module.fugashi, "Tagger", counting_tagger)
    taggers = []

    def work():  # a fresh thread has no tagger yet
        for text in TEXTS:
            tokenize(text)
        taggers.extend([tokenize_module._tagger(), tokenize_module._tagger()])

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert len(created) == 1
    assert taggers[0] is taggers[1]


def test_tokenize_from_several_threads_gives_the_same_tokens():
    expected = {text: tokenize(text) for text in TEXTS}
    barrier = threading.Barrier(6)

    def work(shift: int):
        barrier.wait()
        tagger = tokenize_module._tagger()
        results = [(text, tokenize(text)) for _ in range(20) for text in TEXTS[shift:] + TEXTS[:shift]]
        return tagger, results

    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = list(pool.map(work, range(6)))
    for _, results in outcomes:
        assert all(tokens == expected[text] for text, tokens in results)
    # each worker thread has its own tagger (all alive at once, so ids cannot be recycled)
    assert len({id(tagger) for tagger, _ in outcomes}) == 6
