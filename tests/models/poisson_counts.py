"""Poisson counts for the detector tests' synthetic streams, drawn from a seeded `random.Random` (Knuth's method),
so that a seed gives the same stream with any numpy version."""

import math
import random


def poisson(rng: random.Random, rate: float) -> int:
    count, limit, product = 0, math.exp(-rate), rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count
