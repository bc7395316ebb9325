"""A tenant's topic head as stored (safetensors bytes) and the zero-shot helpers of its evaluation."""

from __future__ import annotations

import pytest
import torch

from models.analyzers.tenant_topics import TopicHead
from pipelines.evaluate_tenant_topics import best_threshold, fallback, zero_shot


def test_a_head_round_trips_through_bytes_and_refuses_a_wrong_topic_list() -> None:
    head = TopicHead(["kids", "bath"], torch.randn(2, 8), torch.randn(2), "koe-accurate-2.2.0")
    again = TopicHead.from_bytes(["kids", "bath"], head.to_bytes(), head.model_version)
    assert torch.equal(again.weight, head.weight) and torch.equal(again.bias, head.bias)
    assert again.digest == head.digest and len(head.digest) == 8
    with pytest.raises(ValueError, match="a head of 2 topics for a list of 3"):
        TopicHead.from_bytes(["kids", "bath", "food"], head.to_bytes(), head.model_version)


def test_probabilities_are_a_logistic_regression_per_topic() -> None:
    head = TopicHead(["a", "b"], torch.tensor([[1.0, 0.0], [0.0, -1.0]]), torch.tensor([0.0, 0.0]), "m")
    p = head.probabilities(torch.tensor([[2.0, 2.0]]))[0]
    assert p[0] == pytest.approx(torch.sigmoid(torch.tensor(2.0)).item()) and p[1] < 0.5


def test_zero_shot_fills_only_items_the_rules_left_without_topic() -> None:
    ids = ["price", "delivery"]
    score = torch.tensor([[0.09, 0.01], [0.02, 0.08], [0.01, 0.02]])
    assert zero_shot(score, 0.05, ids) == [{"price"}, {"delivery"}, set()]
    assert fallback([{"staff"}, set(), set()], score, 0.05, ids) == [{"staff"}, {"delivery"}, set()]


def test_the_threshold_is_never_when_similarity_only_adds_mistakes() -> None:
    ids = ["price", "delivery"]
    score = torch.tensor([[0.09, 0.01], [0.02, 0.08]])
    gold = [{"delivery"}, {"price"}]  # the similarity is wrong on both
    assert best_threshold(lambda t: zero_shot(score, t, ids), score, gold) == float("inf")
