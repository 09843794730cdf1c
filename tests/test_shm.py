import os

import numpy as np

from engine import shm


def test_segments_are_named_for_their_owner_and_unlinked_by_it():
    segment = shm.create(1000)
    assert segment.name.startswith(f"{shm.PREFIX}{shm.service_pid}_{os.getpid()}_")
    assert shm.owner(segment.name) == shm.service_pid and shm.owned_here(segment.name)
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
    assert not [name for name in os.listdir("/dev/shm") if name.startswith(f"{shm.PREFIX}{shm.service_pid}_{pid}_")]


def test_a_service_that_starts_removes_only_what_dead_services_left():
    pid = os.fork()
    if pid == 0:  # a "service" killed without cleaning up
        shm.service_pid = os.getpid()
        shm.create(100)
        shm.create_for_service(100)
        os._exit(0)
    os.waitpid(pid, 0)
    live = shm.create(100)  # a live service's (this process's)
    other = "/dev/shm/not_ufora_%d" % os.getpid()  # another program's
    open(other, "w").close()
    try:
        assert shm.sweep_dead_services() >= 2  # and any other dead service's
        assert not [name for name in os.listdir("/dev/shm") if shm.owner(name) == pid]
        assert os.path.exists(f"/dev/shm/{live.name}") and os.path.exists(other)
    finally:
        shm.release(live, unlink=True)
        os.unlink(other)
