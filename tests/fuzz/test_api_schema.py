"""Every operation of the OpenAPI schema fuzzed in process (schemathesis): valid and invalid requests alike must
never answer 5xx, and every answer must be one the schema documents (status, content type, body, headers)."""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from alembic import command
from fastapi import FastAPI
from hypothesis import HealthCheck, given, seed, settings
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

# Operations without parameters have one possible request; the 23 others get this many each: > 5,000 in all.
EXAMPLES_PER_OPERATION = 220
MIN_CASES = 5_000
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
# The same cases on every run, so that `make test` is reproducible; KOE_FUZZ_SEED=<n> explores other ones.
SEED = os.environ.get("KOE_FUZZ_SEED")


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
    asgi.shutdown_lifespans()  # schemathesis started the app's lifespan (analyzer, engine) on its first request


def fuzz(operation: schemathesis.APIOperation, answers: Counter[int]) -> None:
    """Valid and invalid requests for one operation, each answer checked against the schema."""
    cases = st.one_of([operation.as_strategy(generation_mode=mode) for mode in GenerationMode])

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=SEED is None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases)
    def check(case: schemathesis.Case) -> None:
        response = case.call()
        answers[response.status_code] += 1
        case.validate_response(response, checks=CHECKS)

    (seed(int(SEED))(check) if SEED else check)()


# One test walking the operations as subtests, not @schema.parametrize(): the schema comes from the app, which needs
# a migrated database (a fixture), and schemathesis' fixture-based loader breaks on pytest 9.2 (request.node._nodeid).
def test_every_operation_answers_as_documented(
    fuzz_app: FastAPI, subtests: pytest.Subtests, capsys: pytest.CaptureFixture[str]
) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)
    # No made-up API keys: they could only be refused (401), and the requests are to reach the routes' own code.
    # Authentication has its own tests (tests/api/test_auth.py).
    schema.config.generation.update(with_security_parameters=False)
    answers: Counter[int] = Counter()
    per_operation: Counter[str] = Counter()
    started = time.monotonic()
    for result in schema.get_all_operations():
        operation = result.ok()
        before = answers.total()
        with subtests.test(msg=operation.label):
            fuzz(operation, answers)
        per_operation[operation.label] = answers.total() - before
    seconds = time.monotonic() - started
    statuses = ", ".join(f"{status}×{n}" for status, n in sorted(answers.items()))
    with capsys.disabled():
        print(
            f"\nfuzz: {answers.total():,} requests over {len(per_operation)} operations in {seconds:.0f} s ({statuses})"
        )
    assert answers.total() >= MIN_CASES, per_operation
