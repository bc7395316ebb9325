"""The load benchmark's choice of rates to hold (the runs themselves need real servers: `make bench`)."""

from __future__ import annotations

from pipelines.bench_load import Step, rates_to_hold


def step(rate: float, p99_ms: float, errors: int = 0) -> Step:
    done = Step(rate, 10.0, latencies_ms=[p99_ms / 2] * 98 + [p99_ms] * 2)
    done.kinds["ok"] = 100
    done.kinds["503"] = errors
    return done


def test_the_best_step_then_the_highest_passing_rate_below_it() -> None:
    steps = [step(100, 12), step(200, 30), step(300, 150), step(300, 60), step(400, 90), step(600, 95, errors=20)]
    assert [s.passes() for s in steps] == [True, True, False, True, True, False]
    assert rates_to_hold(steps, 400) == [400, 300]


def test_nothing_to_fall_back_to() -> None:
    assert rates_to_hold([step(10, 12)], 10) == [10]
    assert rates_to_hold([step(10, 500)], 0.0) == []
