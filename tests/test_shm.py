import os

import numpy as np
import pytest

from ufora.engine import shm


def test_segments_are_named_for_their_owner_and_unlinked_by_it():
    segment = shm.create(1000)
    assert segment.name.startswith(f"{shm.PREFIX}{shm.service_pid}_{shm.service_tag}_{os.getpid()}_")
    assert shm.owner(segment.name) == shm.service_pid and shm.owned_here(segment.name)
    assert os.path.exists(f"/dev/shm/{segment.name}")
    other = shm.attach(segment.name)
    np.ndarray((10,), np.int64, buffer=other.buf)[:] = 7
    assert np.ndarray((10,), np.int64, buffer=segment.buf)[3] == 7
    shm.release(other)
    shm.release(segment, unlink=True)
    assert not os.path.exists(f"/dev/shm/{segment.name}")


class _Owner:
    """What holds a handable segment: its array and the segment object (engine.unread.NumericList)."""

    def __init__(self, count: int):
        self.segment = shm.create(8 * count * 2)  # twice the size: the rest is cut off
        self.array = np.ndarray((count,), np.float64, buffer=self.segment.buf)
        self.array[:] = np.arange(count) * 0.5
        shm.handable(self.segment, self.array.nbytes, self)


def test_a_handable_segment_goes_with_its_owner_unless_taken_then_is_the_services():
    owner = _Owner(1000)
    name = owner.segment.name
    assert os.stat(f"/dev/shm/{name}").st_size == 8000  # cut to the array's bytes
    assert shm.take(memoryview(owner.array[1:]).cast("B")) is None  # not its whole data
    del owner
    assert not os.path.exists(f"/dev/shm/{name}")

    owner = _Owner(1000)
    name = owner.segment.name
    taken = shm.take(memoryview(owner.array).cast("B"))
    assert taken is not None and taken.startswith(f"{shm.PREFIX}{shm.service_pid}_{shm.service_tag}_o")
    assert not os.path.exists(f"/dev/shm/{name}") and shm.take(memoryview(owner.array).cast("B")) is None
    del owner  # no longer its to unlink
    assert np.array_equal(np.frombuffer(shm.map_readonly(taken, 8000), np.float64), np.arange(1000) * 0.5)
    shm.unlink(taken)


def test_sweep_removes_what_a_dead_driver_left():
    pid = os.fork()
    if pid == 0:
        shm.create(100)
        shm.create(100)
        os._exit(0)  # dies without releasing anything
    os.waitpid(pid, 0)
    assert shm.sweep(pid) == 2
    assert not [name for name in os.listdir("/dev/shm")
                if name.startswith(f"{shm.PREFIX}{shm.service_pid}_{shm.service_tag}_{pid}_")]


def test_a_service_that_starts_removes_only_what_dead_services_left():
    pid = os.fork()
    if pid == 0:  # a "service" killed without cleaning up
        shm.become_service()
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


def test_names_carry_a_random_tag_per_service_that_its_pool_inherits():
    """Segment names cannot be guessed (a 128-bit tag drawn by each service, a random last part
    per segment), and still say which service they belong to, right after the prefix."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # a worker service, and a compute process it forks
        os.close(read)
        shm.become_service()
        child = os.fork()
        if child == 0:
            names = [shm.create(100).name, shm.create(100).name, shm.create_for_service(100).name]
            os.write(write, " ".join([shm.service_tag, *names]).encode())
            os._exit(0)
        os.waitpid(child, 0)
        shm.sweep_service(os.getpid())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        tag, first, second, kept = pipe.read().split()
    os.waitpid(pid, 0)
    assert tag != shm.service_tag and len(bytes.fromhex(tag)) == 16
    assert all(name.startswith(f"{shm.PREFIX}{pid}_{tag}_") and shm.owner(name) == pid
               for name in (first, second, kept))
    assert first != second and first.rsplit("_", 1)[0] == second.rsplit("_", 1)[0]  # same driver, random last part
    assert not shm.owned_here(first)  # another service's: this process's data channel would never serve it


def test_a_segment_made_in_the_name_of_a_service_that_is_gone_is_not_left(monkeypatch):
    """A driver finishing its block as its worker was killed made a segment in the service's
    name after the pool's zygote had swept the service's segments: a CI run found it left."""
    from ufora.engine import proc
    gone = 4_194_305  # past the largest pid_max: no process has it
    monkeypatch.setattr(shm, "service_pid", gone)
    monkeypatch.setattr(proc, "alive", lambda pid: pid != gone)
    before = set(os.listdir("/dev/shm"))
    with pytest.raises(shm.ServiceGone):
        shm.write_for_service(b"x" * 100)
    with pytest.raises(shm.ServiceGone):
        shm.create_for_service(100)
    assert not {name for name in set(os.listdir("/dev/shm")) - before if str(gone) in name}
