from __future__ import annotations

from fastapi.testclient import TestClient

HOTEL = """name: hotel
version: 2
topics:
  - id: room
    label: 客室
    keywords: [部屋, 客室, ベッド]
  - id: breakfast
    label: 朝食
    keywords: [朝食, バイキング]
"""


def test_default_taxonomy_has_the_cx_topics(client: TestClient) -> None:
    body = client.get("/v1/taxonomy").json()
    assert body["name"] == "default"
    assert [t["label"] for t in body["topics"]][:3] == ["品質/機能", "価格", "配送"]


def test_tenant_taxonomy_replaces_topics(client: TestClient) -> None:
    response = client.put("/v1/taxonomy", content=HOTEL.encode(), headers={"content-type": "application/yaml"})
    assert response.status_code == 200 and response.json()["name"] == "hotel"
    doc = client.post("/v1/analyze", json={"documents": [{"text": "部屋は広いけど朝食のバイキングが残念。"}]}).json()
    topics = {t["id"]: t["name"] for t in doc["documents"][0]["topics"]}
    assert topics == {"breakfast": "朝食", "room": "客室"}
    assert "hotel.v2" in doc["model_versions"]["topics"]
    client.delete("/v1/taxonomy")
    assert client.get("/v1/taxonomy").json()["name"] == "default"


def test_invalid_taxonomy_is_explained(client: TestClient) -> None:
    bad = client.put("/v1/taxonomy", content=b"name: x\ntopics:\n  - id: Bad Id\n    label: a\n    keywords: []\n")
    assert bad.status_code == 422
    pointers = {e["pointer"] for e in bad.json()["errors"]}
    assert {"/topics/0/id", "/topics/0/keywords"} <= pointers
    assert client.put("/v1/taxonomy", content=b"topics: [").json()["code"] == "invalid_taxonomy"


def test_a_taxonomy_with_nul_characters_is_422_on_every_database(client: TestClient) -> None:
    # PostgreSQL stores NUL in no JSON value: it answered 500.
    body = '{"name": "hotel", "version": 1, "topics": [{"id": "room", "label": "客室", "keywords": ["部\\u0000屋"]}]}'
    response = client.put("/v1/taxonomy", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422 and response.json()["errors"][0]["pointer"] == "/topics/0/keywords/0"
