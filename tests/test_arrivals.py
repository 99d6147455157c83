"""config.arrivals: a load client's users arrive as independent Poisson processes, so the
server sees no bursts from users spawned together, and a slow answer does not lower the rate."""

from __future__ import annotations

import heapq
import itertools
import statistics

import pytest

from config.arrivals import PoissonArrivals


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _arrival_times(users: int, rate: float, seconds: float) -> list[float]:
    """Every arrival of `users` users all spawned at the same instant (one Locust spawn batch),
    each answered at once, over `seconds`."""
    clock = Clock()
    start = clock.now
    plans = [PoissonArrivals(rate, seed=n, clock=clock) for n in range(users)]
    due = [(start + plan.wait(), n) for n, plan in enumerate(plans)]
    heapq.heapify(due)
    arrivals = []
    while due[0][0] < start + seconds:
        at, n = heapq.heappop(due)
        clock.now = at
        arrivals.append(at - start)
        heapq.heappush(due, (at + plans[n].wait(), n))
    return arrivals


def test_users_spawned_together_spread_their_arrivals() -> None:
    # 500 residents at 1.1 orders a second: 550 a second, 27.5 in a 50 ms window on average.
    # In step (constant_throughput) one window held 250 and the next ones none.
    arrivals = _arrival_times(500, 1.1, 20)
    windows = [0] * 400
    for at in arrivals:
        windows[int(at / 0.05)] += 1
    assert 530 * 20 < len(arrivals) < 570 * 20
    assert max(windows) < 60  # Poisson(27.5) passes 60 about once in 10^7 windows
    assert min(windows[20:]) > 5
    assert statistics.pstdev(windows) < 2 * 27.5**0.5


def test_gaps_are_exponential() -> None:
    plan = PoissonArrivals(2.0, seed="one resident", clock=Clock())
    gaps = [plan.wait() for _ in range(20_000)]  # the clock stands still: each wait adds a gap
    steps = [b - a for a, b in itertools.pairwise(gaps)]
    assert statistics.fmean(steps) == pytest.approx(0.5, rel=0.03)
    assert statistics.pstdev(steps) == pytest.approx(0.5, rel=0.05)  # exponential: sd = mean


def test_a_slow_answer_does_not_lower_the_rate() -> None:
    clock = Clock()
    plan = PoissonArrivals(1.0, seed=7, clock=clock)
    sent = 0
    for _ in range(200):
        wait = plan.wait()
        clock.now += wait + 0.6  # the answer takes 0.6 s: behind plan, the next wait shrinks
        sent += 1
    elapsed = clock.now - 1000.0
    assert sent / elapsed == pytest.approx(1.0, rel=0.15)


def test_the_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="above 0"):
        PoissonArrivals(0, seed=1)
