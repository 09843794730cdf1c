"""A module of the user's own (not installed: it travels by value) whose data a block sets
(``tests/test_write_back.py``)."""
THRESHOLD = 1
NAMES = ["first"]


def scaled(x):
    return x * THRESHOLD


def hook(x):
    return x + 1000


def use_hook(x):
    return hook(x)


def kept_scaler(ufora):
    """A function made by a block of this module and kept on the cluster: it reads this module's
    THRESHOLD wherever it is called from."""
    with ufora.remotely:
        def scaled_kept(x):
            return x * THRESHOLD
    return scaled_kept
