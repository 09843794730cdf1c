"""A module of the user's own (not ``__main__``) whose functions the programs of ``module_hunt``
call through the module's name, as ``mymod.bump(i)``: a counter global, an append to an argument,
output, a class counting its instances, random draws."""
import random

import numpy as np

COUNT = 0


def bump(x):
    global COUNT
    COUNT += 1
    return x


def add_to(acc, x):
    acc.append(x)
    return x


def shout(i):
    print("item", i)
    return i


class Tracker:
    created = 0

    def __init__(self):
        Tracker.created += 1


def draw(i):
    return random.random() + i


def numpy_draw():
    return float(np.random.rand())
