"""Every operation of the OpenAPI schema fuzzed in process: never a 5xx, every answer as the schema documents it."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from alembic import command
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.python import asgi

from app.core.config import Settings
from app.main import create_app
from tests.conftest import alembic_config

pytestmark = pytest.mark.fuzz

EXAMPLES_PER_OPERATION = 170  # x 31 operations > 5,000 generated cases
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    directory: Path = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite:///{directory / 'fuzz.db'}"
    command.upgrade(alembic_config(url), "head")
    yield create_app(
        Settings(
            database_url=url,
            analyzer="rules",
            embedded_worker=False,
            auth_required=False,
            rate_limit_per_second=0,
            upload_dir=str(directory / "uploads"),
        )
    )
    asgi.shutdown_lifespans()


def strategy(operation) -> st.SearchStrategy[schemathesis.Case]:
    return st.one_of([operation.as_strategy(generation_mode=mode) for mode in GenerationMode])


def test_every_operation(fuzz_app: FastAPI, subtests: pytest.Subtests, capsys: pytest.CaptureFixture[str]) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)
    cases: Counter[str] = Counter()
    started = time.monotonic()
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=strategy(operation))
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: schemathesis.Case) -> None:
            cases[operation.label] += 1
            case.call_and_validate(checks=CHECKS)

        with subtests.test(msg=operation.label):
            t0 = time.monotonic()
            check()
        with capsys.disabled():
            print(f"{operation.label}: {cases[operation.label]} in {time.monotonic()-t0:.1f}s", flush=True)
    with capsys.disabled():
        print(f"\nfuzz: {sum(cases.values())} cases, {len(cases)} operations, {time.monotonic() - started:.0f} s")
    assert sum(cases.values()) >= 5_000
