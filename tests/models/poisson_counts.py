"""A seeded Poisson sampler for the detector tests' synthetic count streams."""

import math
import random


def poisson(rng: random.Random, rate: float) -> int:
    """A Poisson count of mean `rate` (Knuth's product of uniforms: exact, fine for the small rates of a minute).

    >>> poisson(random.Random(1), 0.0)
    0
    """
    count, limit, product = 0, math.exp(-rate), rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count
