"""JSONL exports from CRM/helpdesk tools: one object a line, row number = line number, bad lines reported."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from app.ingest.mapping import map_row
from app.ingest.readers import Limits, iter_rows, preview

TICKETS = [
    {"id": "T-1024", "created_at": "2026-11-03T14:05:00+09:00", "body": "注文した商品がまだ届きません。", "nps": 3},
    {"id": "T-1025", "created_at": 1762146300, "body": "返品の手続きが\n分かりにくいです。", "tags": ["返品", "UI"]},
]


def write_jsonl(tmp_path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    path = tmp_path / "tickets.jsonl"
    path.write_bytes("".join(line + "\n" for line in lines).encode(encoding))
    return path


def dumps(item: dict[str, object]) -> str:
    return json.dumps(item, ensure_ascii=False)


def test_objects_map_to_items(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path, [dumps(TICKETS[0]), "", dumps(TICKETS[1])])
    result = preview(path, filename="tickets.jsonl")
    assert (result["format"], result["encoding"], result["header_row"], result["skipped_empty"]) == (
        "jsonl",
        "utf-8",
        None,
        1,
    )
    assert result["headers"] == ["id", "created_at", "body", "nps", "tags"]
    assert result["mapping"] == {
        "id": "external_id",
        "created_at": "written_at",
        "body": "text",
        "nps": "nps",
        "tags": "metadata.tags",
    }
    rows = list(iter_rows(path))
    assert [row.number for row in rows] == [1, 3]
    first, second = (map_row(row, result["mapping"]) for row in rows)
    assert first == (
        {
            "external_id": "T-1024",
            "written_at": datetime.fromisoformat("2026-11-03T14:05:00+09:00"),
            "text": "注文した商品がまだ届きません。",
            "nps": 3,
            "metadata": {},
        },
        [],
    )
    assert second[0]["written_at"] == datetime(2025, 11, 3, 5, 5, tzinfo=UTC)
    assert second[0]["text"] == "返品の手続きが\n分かりにくいです。"
    assert second[0]["metadata"] == {"tags": '["返品", "UI"]'}


def test_bad_lines_are_rows_with_errors(tmp_path: Path) -> None:
    lines = [dumps(TICKETS[0]), '{"body": "閉じていない', "[1, 2]", dumps({"body": "最後の行"})]
    rows = list(iter_rows(write_jsonl(tmp_path, lines)))
    assert [(row.number, row.error) for row in rows] == [
        (1, None),
        (2, "JSON として読めません / invalid JSON: Unterminated string starting at (column 10)"),
        (3, "JSON オブジェクトではありません / not a JSON object: list"),
        (4, None),
    ]
    assert map_row(rows[2], {"body": "text"})[1][0].as_dict() == {
        "pointer": "/rows/3",
        "detail": "JSON オブジェクトではありません / not a JSON object: list",
        "code": "unreadable_row",
    }


def test_invalid_utf8_and_oversize_lines(tmp_path: Path) -> None:
    path = tmp_path / "tickets.jsonl"
    good = dumps({"body": "良い"}).encode()
    path.write_bytes(good + b'\n{"body": "\xff"}\n' + dumps({"body": "長" * 500}).encode() + b"\n" + good + b"\n")
    rows = list(iter_rows(path, encoding="utf-8", limits=Limits(max_row_chars=200)))
    assert [(row.number, row.error) for row in rows] == [
        (1, None),
        (2, "2行目に utf-8 として読めないバイトがあります / bytes not valid utf-8 on line 2"),
        (3, "3行目からの行が長すぎます / the row starting at line 3 is over 200 chars"),
        (4, None),
    ]


def test_cp932_jsonl_and_empty_objects(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path, [dumps({"コメント": "対応が丁寧でした"}), "{}", "   "], encoding="cp932")
    rows = iter_rows(path)
    assert [(row.number, row.cells) for row in rows] == [(1, {"コメント": "対応が丁寧でした"})]
    assert rows.skipped_empty == 2
