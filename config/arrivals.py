"""When a load client's simulated users act: each one a Poisson process of its own.

Independent people (500 residents' apps) send at random moments, so the load a server sees is
Poisson: about the same in every short window. Locust's constant_throughput paces each user
from its spawn instead, so the users of one spawn batch act together for the whole run, and the
server gets bursts (250 orders within 50 ms, twice a second, at 550 a second): the latency
measured is then the queue of each burst, not the server's. Pure: no Locust, no Django.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable


class PoissonArrivals:
    """One user's arrival times at `rate` a second, the first at a random phase.

    Each wait is timed from the previous planned arrival, not from when the answer came: a
    slow answer leaves the next wait shorter (none, if the plan is behind), so the rate offered
    stays `rate` while the server keeps up, as an open-loop load's would.
    """

    def __init__(
        self, rate: float, seed: object, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if not rate > 0:
            raise ValueError("the rate must be above 0 a second")
        self._rate = rate
        self._rng = random.Random(str(seed))
        self._clock = clock
        self._next_at = clock()

    def wait(self) -> float:
        """Seconds until this user's next arrival (0 if it is due already)."""
        self._next_at += self._rng.expovariate(self._rate)
        return max(0.0, self._next_at - self._clock())
