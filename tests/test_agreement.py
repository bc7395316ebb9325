"""The agreement pipeline on second passes built from the corpus itself: agreeing with every label, and with
one kind of label changed in a known way."""

import json
from pathlib import Path

import pytest

from pipelines import agreement, corpus


@pytest.fixture(scope="module")
def items() -> list[corpus.CorpusItem]:
    return [i for i in corpus.load()[0] if i.topics and i.emotions][:40]


def second_pass(path: Path, items: list[corpus.CorpusItem], **changes) -> Path:
    rows = [
        {
            "id": i.id,
            "sentence_sentiments": [label for _, label in i.sentences],
            "sentiment": i.sentiment,
            "topics": list(i.topics),
            "stage": i.stage,
            "emotions": list(i.emotions),
        }
        | {field: change(i) for field, change in changes.items()}
        for i in items
    ]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path


def scores(path: Path) -> dict[str, float]:
    return {row[0]: row[3] for row in agreement.second_pass_as_model(agreement.relabelled_pairs(path))}


def test_a_second_pass_equal_to_the_labels_scores_one_everywhere(tmp_path, items):
    path = second_pass(tmp_path / "same.jsonl", items)
    assert set(scores(path).values()) == {1.0}
    assert all(row[2] == 1.0 for row in agreement.agreement(agreement.relabelled_pairs(path)))


def test_a_second_pass_missing_every_topic_but_the_first_scores_topics_by_micro_f1(tmp_path, items):
    path = second_pass(tmp_path / "first-topic.jsonl", items, topics=lambda i: i.topics[:1])
    gold = sum(len(set(i.topics) - {"other"}) for i in items)
    found = sum(len(set(i.topics[:1]) - {"other"}) for i in items)
    assert found < gold  # some items have more than one topic
    found_scores = scores(path)
    assert found_scores["topics"] == pytest.approx(2 * found / (found + gold))  # precision 1, recall found/gold
    assert found_scores["journey stage"] == found_scores["emotions (8)"] == 1.0


def test_items_no_longer_in_the_corpus_are_left_out(tmp_path, items):
    path = second_pass(tmp_path / "gone.jsonl", items[:3])
    path.write_text(path.read_text(encoding="utf-8") + json.dumps({"id": "not-an-item"}) + "\n", encoding="utf-8")
    document_row = agreement.second_pass_as_model(agreement.relabelled_pairs(path))[0]
    assert document_row[:2] == ["document sentiment (4)", 3]
