import os

import numpy as np

from engine import shm


def test_segments_are_named_for_their_owner_and_unlinked_by_it():
    segment = shm.create(1000)
    assert segment.name.startswith(f"{shm.PREFIX}{os.getpid()}_")
    assert os.path.exists(f"/dev/shm/{segment.name}")
    other = shm.attach(segment.name)
    np.ndarray((10,), np.int64, buffer=other.buf)[:] = 7
    assert np.ndarray((10,), np.int64, buffer=segment.buf)[3] == 7
    shm.release(other)
    shm.release(segment, unlink=True)
    assert not os.path.exists(f"/dev/shm/{segment.name}")


def test_sweep_removes_what_a_dead_driver_left():
    pid = os.fork()
    if pid == 0:
        shm.create(100)
        shm.create(100)
        os._exit(0)  # dies without releasing anything
    os.waitpid(pid, 0)
    assert shm.sweep(pid) == 2
    assert not [name for name in os.listdir("/dev/shm") if name.startswith(f"{shm.PREFIX}{pid}_")]
