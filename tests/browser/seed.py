"""About forty realistic feedback items over five weeks: several stages, channels, sources and NPS answers."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

# (text, stage or None = predicted, channel, source, nps, csat, segment, days before today)
ROWS: list[tuple[str, str | None, str, str, int | None, int | None, str | None, int]] = [
    (
        "インスタの広告で知りました。デザインがおしゃれで気になっています。",
        "awareness",
        "sns",
        "instagram",
        None,
        None,
        None,
        33,
    ),
    (
        "テレビCMを見て興味を持ちましたが、説明が少なくてよくわかりませんでした。",
        "awareness",
        "survey",
        "nps_survey",
        6,
        3,
        "regular",
        30,
    ),
    (
        "友人に勧められて知りました。口コミの評判が良かったです。",
        "awareness",
        "sns",
        "x_mentions",
        None,
        None,
        None,
        12,
    ),
    (
        "他社と比較して、価格が安いのが決め手になりそうです。",
        "consideration",
        "review",
        "app_store",
        8,
        4,
        "regular",
        31,
    ),
    (
        "商品ページの説明がわかりにくく、サイズ選びで迷いました。",
        "consideration",
        "chat",
        "zendesk",
        5,
        2,
        "regular",
        26,
    ),
    (
        "店舗で実物を見られたので安心して検討できました。店員さんも親切でした。",
        "consideration",
        "review",
        "google_maps",
        9,
        5,
        "gold",
        19,
    ),
    ("在庫切れの商品が多く、欲しい色が選べませんでした。", "consideration", "email", "support_mail", 4, 2, None, 8),
    (
        "注文から1週間たっても届きません。問い合わせても返信がなく、本当に困っています😡",
        "purchase",
        "chat",
        "zendesk",
        1,
        1,
        "regular",
        34,
    ),
    ("配送がとても早くて驚きました！梱包も丁寧でした。", "purchase", "review", "app_store", 10, 5, "gold", 29),
    ("値段は安いけど、配送が遅すぎる。", "purchase", "review", "app_store", 5, 2, "regular", 24),
    (
        "クレジットカードの決済でエラーが出て、支払いが完了しませんでした。",
        "purchase",
        "chat",
        "zendesk",
        2,
        1,
        None,
        20,
    ),
    ("届いた箱がボロボロでした。中身は無事だったので星3つです。", "purchase", "review", "amazon", 6, 3, "regular", 15),
    ("配送が遅れて連絡もなく、不安になりました。", "purchase", "email", "support_mail", 3, 2, "regular", 6),
    ("配送日時の指定ができて便利でした。予定通りに届きました。", "purchase", "survey", "nps_survey", 9, 5, "gold", 3),
    ("アプリが使いやすく、毎日使っています。", "usage", "review", "app_store", 10, 5, "gold", 32),
    ("品質がとても良く、長く使えそうです。買ってよかった！", "usage", "review", "amazon", 9, 5, "gold", 27),
    ("アプリの動作が重くて、ログインに時間がかかります。", "usage", "review", "app_store", 4, 2, "regular", 22),
    ("説明書がわかりにくく、初期設定に苦労しました。", "usage", "survey", "nps_survey", 5, 3, "regular", 18),
    ("使って3日で壊れました。品質に問題があると思います。", "usage", "call", "call_center", 0, 1, "regular", 11),
    ("画面が見やすくて操作も簡単です。家族みんなで使っています(^^)", "usage", "review", "google_play", 10, 5, None, 9),
    (
        "アップデート後にアプリが落ちるようになりました。早く直してください。",
        "usage",
        "review",
        "google_play",
        2,
        1,
        "regular",
        4,
    ),
    ("機能は良いのですが、バッテリーの持ちが悪いのが残念です。", "usage", "survey", "nps_survey", 7, 3, "gold", 2),
    ("サポートに何度電話してもつながらない…二度と使わない😡", "support", "call", "call_center", 0, 1, "regular", 33),
    ("オペレーターの方の対応がとても丁寧で、すぐに解決しました。", "support", "call", "call_center", 9, 5, "gold", 28),
    ("チャットの返信が遅く、同じ説明を何度もさせられました。", "support", "chat", "zendesk", 3, 2, "regular", 23),
    ("返品の手続きが簡単で助かりました。", "support", "email", "support_mail", 8, 4, None, 17),
    ("交換をお願いしたのに、2週間たっても連絡がありません。", "support", "chat", "zendesk", 1, 1, "regular", 10),
    ("問い合わせへの回答が的確で、とても助かりました！", "support", "chat", "zendesk", 10, 5, "gold", 5),
    ("電話がつながるまで30分待たされました。", "support", "call", "call_center", 2, 1, "regular", 1),
    (
        "解約の手続きがわかりにくく、電話もつながらない。二度と契約しません。",
        "retention",
        "call",
        "call_center",
        0,
        1,
        "regular",
        30,
    ),
    (
        "ポイントの有効期限が短くて、いつも失効してしまいます。",
        "retention",
        "survey",
        "nps_survey",
        4,
        2,
        "regular",
        21,
    ),
    ("会員特典が充実しているので、これからも続けます。", "retention", "survey", "nps_survey", 9, 4, "gold", 14),
    ("料金が値上がりしたので、解約を考えています。", "retention", "email", "support_mail", 3, 2, "regular", 7),
    ("長く使っていますが、品質が安定していて満足です。", "retention", "review", "amazon", 9, 5, "gold", 2),
    ("友達にも勧めました。スタッフの方の接客がとても丁寧です！", "advocacy", "sns", "x_mentions", 10, 5, "gold", 25),
    ("家族にも紹介したいと思えるサービスです。", "advocacy", "survey", "nps_survey", 10, 5, None, 16),
    ("値段の割に品質が良いので、人に勧めています。", "advocacy", "review", "google_maps", 9, 4, "gold", 6),
    (
        "スタッフの方の接客がとても丁寧で、気持ちよく買い物ができました！また利用します(^^)",
        None,
        "review",
        "google_maps",
        10,
        5,
        "gold",
        13,
    ),
    ("ポイントが使いにくい。還元率も下がってがっかりです。", None, "other", "web_form", 5, 2, None, 9),
    ("店内が清潔で、駐車場も広くて便利でした。", None, "review", "google_maps", 8, 4, None, 1),
]


def items(today: datetime | None = None) -> list[dict[str, Any]]:
    """The rows as POST /v1/feedback items; written at 10:00 Tokyo time, `days` before today."""
    today = today or datetime.now(ZoneInfo("Asia/Tokyo"))
    morning = today.replace(hour=10, minute=0, second=0, microsecond=0, tzinfo=None)
    out = []
    for i, (text, stage, channel, source, nps, csat, segment, days) in enumerate(ROWS):
        item: dict[str, Any] = {"source": source, "external_id": f"seed-{i}", "channel": channel, "text": text}
        item["written_at"] = (morning - timedelta(days=days)).isoformat()
        fields = {"stage": stage, "nps": nps, "csat": csat, "segment": segment}
        out.append(item | {k: v for k, v in fields.items() if v is not None})
    return out


TEXTS = frozenset(row[0] for row in ROWS)
