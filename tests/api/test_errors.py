"""Bad input gets a clear 4xx problem+json naming what was wrong, and nothing is half-stored."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.factories import REVIEW_POSITIVE, item


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert {"type", "title", "status", "detail", "code"} <= set(body)
    return body


@pytest.mark.parametrize(
    ("bad", "pointer"),
    [
        ({"text": "   \n\u3000"}, "/items/0/text"),
        ({"nps": 11}, "/items/0/nps"),
        ({"csat": 0}, "/items/0/csat"),
        ({"ces": 8}, "/items/0/ces"),
        ({"nps": "9"}, "/items/0/nps"),
        ({"channel": "fax"}, "/items/0/channel"),
        ({"written_at": "昨日"}, "/items/0/written_at"),
        ({"colour": "red"}, "/items/0/colour"),
        ({"stage": "宇宙"}, "/items/0/stage"),
    ],
)
def test_invalid_field_is_pointed_at(client: TestClient, bad: dict, pointer: str) -> None:
    body = problem(client.post("/v1/feedback", json={"items": [item(REVIEW_POSITIVE), {**item(), **bad}]}), 422)
    pointers = [e["pointer"] for e in body["errors"]]
    assert pointer.replace("/0/", "/1/") in pointers
    assert client.get("/v1/feedback").json()["count"] == 0  # the valid item was not stored either


def test_text_over_limit_counts_graphemes(client: TestClient, settings) -> None:
    family = "👨‍👩‍👧"  # one grapheme cluster, five code points
    at_limit = family * settings.max_text_graphemes
    assert client.post("/v1/feedback", json={"items": [item(at_limit)]}).status_code == 201
    body = problem(client.post("/v1/feedback", json={"items": [item(at_limit + "あ")]}), 422)
    assert body["errors"][0] == {
        "pointer": "/items/0/text",
        "detail": body["errors"][0]["detail"],
        "code": "text_too_long",
    }


def test_too_many_items(client: TestClient, settings) -> None:
    items = [item(REVIEW_POSITIVE) for _ in range(settings.max_batch_items + 1)]
    body = problem(client.post("/v1/feedback", json={"items": items}), 422)
    assert body["code"] == "too_many_items"


def test_duplicate_external_id_in_one_batch(client: TestClient) -> None:
    body = problem(client.post("/v1/feedback", json={"items": [item(external_id="A"), item(external_id="A")]}), 422)
    assert body["errors"][0]["pointer"] == "/items/1/external_id"


def test_empty_batch_and_malformed_json(client: TestClient) -> None:
    problem(client.post("/v1/feedback", json={"items": []}), 422)
    body = problem(
        client.post("/v1/feedback", content=b'{"items": [', headers={"content-type": "application/json"}), 422
    )
    assert body["code"] == "validation_error"


def test_body_over_limit_is_413(client: TestClient, settings) -> None:
    huge = b"x" * (settings.max_body_bytes + 1)
    body = problem(client.post("/v1/feedback", content=huge, headers={"content-type": "application/json"}), 413)
    assert body["code"] == "payload_too_large"


def test_unknown_route_and_bad_filters(client: TestClient) -> None:
    problem(client.get("/v1/nothing"), 404)
    assert problem(client.get("/v1/feedback", params={"stage": "宇宙"}), 422)["code"] == "invalid_stage"
    assert problem(client.get("/v1/feedback", params={"cursor": "!!"}), 422)["code"] == "invalid_cursor"
    assert problem(client.get("/v1/feedback", params={"meta": "novalue"}), 422)["code"] == "invalid_meta_filter"
    problem(client.get("/v1/feedback/abc"), 422)


def test_streamed_body_over_limit_is_413(client: TestClient, settings) -> None:
    def chunks():
        for _ in range(settings.max_body_bytes // 65536 + 2):
            yield b" " * 65536

    response = client.post("/v1/feedback", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413 and response.json()["code"] == "payload_too_large"
    assert client.get("/v1/feedback").json()["count"] == 0
