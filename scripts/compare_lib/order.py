"""The order in which the subjects of one round run."""

import random


def round_order(items, round_index):
    """`items` in the order of round `round_index`: shuffled, with the round's
    number as the seed, so that a run can be repeated. A subject leaves work
    to the kernel when it ends (a network namespace's teardown, a cgroup's
    release, deferred frees), which slows whichever subject runs next; in a
    fixed or rotated order the same subject would follow it every round and
    carry that cost in all its figures."""
    order = list(items)
    random.Random(round_index).shuffle(order)
    return order
