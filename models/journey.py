"""The customer journey: stage ids in journey order, their Japanese labels, and touchpoint defaults."""

from __future__ import annotations

STAGES: dict[str, str] = {
    "awareness": "認知",
    "consideration": "検討",
    "purchase": "購入",
    "usage": "利用",
    "support": "サポート",
    "retention": "継続/解約",
    "advocacy": "推奨",
}
STAGE_BY_LABEL = {label: stage for stage, label in STAGES.items()}

# A touchpoint tells the stage more reliably than the words do; a tenant can extend this via settings.
DEFAULT_TOUCHPOINT_STAGES: dict[str, str] = {
    "ad": "awareness",
    "campaign": "awareness",
    "sns_ad": "awareness",
    "product_page": "consideration",
    "trial": "consideration",
    "quote": "consideration",
    "store_visit": "consideration",
    "cart": "purchase",
    "checkout": "purchase",
    "order": "purchase",
    "contract": "purchase",
    "delivery": "purchase",
    "onboarding": "usage",
    "app": "usage",
    "in_use": "usage",
    "stay": "usage",
    "meal": "usage",
    "helpdesk": "support",
    "call_center": "support",
    "chat_support": "support",
    "repair": "support",
    "renewal": "retention",
    "cancellation": "retention",
    "churn_survey": "retention",
    "referral": "advocacy",
    "nps_survey": "advocacy",
    "review_site": "advocacy",
}


def stage_id(value: str) -> str | None:
    """Accept a stage id (purchase) or its Japanese label (購入)."""
    if value in STAGES:
        return value
    return STAGE_BY_LABEL.get(value)
