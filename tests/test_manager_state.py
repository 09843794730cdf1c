"""net.manager_state alone: the manager's decisions driven by events, no sockets, the state
checked after every step."""
from typing import List

import pytest

from ufora.net.manager_state import (MAX_RERUNS, BlockDone, Cancelled, Deliver, Fail, Free, Job, ManagerState, OrphansDue,
                                     Released, Run, SessionEnded, StartOrphanTimer, Stop, Submitted, WorkerJoined,
                                     WorkerLost, WorkerReady)
from ufora.net.registry import WorkerInfo


def worker(name: str, cores: int = 2) -> WorkerInfo:
    return WorkerInfo(name, "127.0.0.1", 1, 2, cores, 1 << 30)


def job(number: int, session: str = "s1", objects: List[str] = ()) -> Job:
    return Job(f"j{number}", session, {"type": "run_block", "job_id": f"{number}:j{number}"}, [b"src"],
               list(objects))


class Driven:
    """A ManagerState and every instruction it gave, validated after each event."""

    def __init__(self) -> None:
        self.state = ManagerState()

    def __call__(self, event) -> list:
        out = self.state.handle(event)
        self.state.validate_state()
        return out

    def ready(self, info: WorkerInfo) -> list:
        self(WorkerJoined(info))
        return self(WorkerReady(info))


def test_blocks_wait_for_a_ready_worker_then_go_to_the_least_loaded():
    driven = Driven()
    assert driven(Submitted(job(1))) == []  # nobody to run it
    a, b = worker("a"), worker("b", cores=4)
    assert driven(WorkerJoined(a)) == []  # joined, control channel not open yet
    [run] = driven(WorkerReady(a))
    assert isinstance(run, Run) and run.worker_id == "a" and run.job.header["objects"] == {}
    driven.ready(b)
    [run] = driven(Submitted(job(2)))
    assert run.worker_id == "b"  # a: 1 of 2 cores busy; b: 0 of 4


def test_a_block_goes_where_most_bytes_of_its_remote_objects_are():
    driven = Driven()
    a, b = worker("a"), worker("b")
    driven.ready(a)
    driven.ready(b)
    [run] = driven(Submitted(job(1)))
    [deliver] = driven(BlockDone(run.worker_id, {"job_id": run.job.cluster_job_id, "names": ["x"], "error": None,
                                                 "objects": {"x": {"id": "big", "size": 10 << 20}}}, []))
    assert isinstance(deliver, Deliver) and deliver.kept == ["big"]
    for number in range(2, 5):  # whatever the load, blocks using the object go to its holder
        [run_again] = driven(Submitted(job(number, objects=["big"])))
        assert run_again.worker_id == run.worker_id
        assert run_again.job.header["objects"] == {"big": run.worker_id}


def test_a_lost_worker_s_blocks_run_again_then_fail_after_max_reruns():
    driven = Driven()
    block = job(1)
    driven(Submitted(block))
    for attempt in range(MAX_RERUNS + 1):
        info = worker(f"w{attempt}")
        [run] = driven.ready(info)
        assert run.job is block
        out = driven(WorkerLost(info, f"worker w{attempt} was lost"))
        if attempt < MAX_RERUNS:
            assert out == [StartOrphanTimer(f"worker w{attempt} was lost")] and block.reruns == attempt + 1
    assert out == [Fail(block, f"worker w{MAX_RERUNS} was lost, and it was already run {MAX_RERUNS + 1} times")]


def test_orphans_fail_when_no_worker_came_back_in_time_and_wait_when_one_did():
    driven = Driven()
    info = worker("a")
    driven.ready(info)
    driven(Submitted(job(1)))
    driven(WorkerLost(info, "lost"))
    [fail] = driven(OrphansDue("lost"))
    assert isinstance(fail, Fail) and "no worker was left to run it again" in fail.message
    driven(Submitted(job(2)))
    driven(WorkerJoined(worker("b")))  # a member (not ready yet): orphans wait for it
    assert driven(OrphansDue("lost")) == []


def test_a_worker_that_registers_again_runs_its_old_blocks_again_and_its_old_loss_is_ignored():
    driven = Driven()
    old = worker("a")
    driven.ready(old)
    [first] = driven(Submitted(job(1)))
    new = worker("a")
    driven(WorkerJoined(new))
    [run] = driven(WorkerReady(new))
    assert run.job is first.job and first.job.reruns == 1
    assert driven(WorkerLost(old, "the old registration's channel closed")) == []
    assert driven.state.running_count() == 1


def test_a_dead_driver_runs_its_block_again_once_elsewhere_then_reports():
    driven = Driven()
    a, b = worker("a"), worker("b")
    driven.ready(a)
    driven.ready(b)
    [run] = driven(Submitted(job(1)))
    died = {"job_id": run.job.cluster_job_id, "driver_lost": True, "error": {"message": "killed by signal 9"}}
    [again] = driven(BlockDone(run.worker_id, died, []))
    assert again.worker_id != run.worker_id
    [deliver] = driven(BlockDone(again.worker_id, died, []))
    assert deliver.header["error"]["message"] == ("killed by signal 9 (it was run again once, and its process "
                                                  "died again)")


def test_cancel_stops_running_blocks_and_drops_waiting_ones_of_that_session_only():
    driven = Driven()
    driven.ready(worker("a", cores=1))
    [run] = driven(Submitted(job(1)))
    driven(Submitted(job(2)))  # runs too: placement is by load, not a cap
    out = driven(Cancelled("s1", "j1"))
    assert out == [Stop("a", run.job.cluster_job_id)]
    driven(Submitted(job(3, session="s2")))
    stopped = driven(Cancelled("s1"))
    assert [instruction.cluster_job_id for instruction in stopped] == ["2:j2"]
    assert driven.state.running_count() == 1  # s2's block
    # a result of a cancelled block: what it kept is freed at once
    assert driven(BlockDone("a", {"job_id": "1:j1", "objects": {"x": {"id": "o1", "size": 1}}}, [])) == [
        Free("a", ["o1"])]


def test_objects_belong_to_their_session_and_are_freed_after_the_last_block_using_them():
    driven = Driven()
    driven.ready(worker("a"))
    [run] = driven(Submitted(job(1)))
    driven(BlockDone("a", {"job_id": run.job.cluster_job_id, "objects": {"x": {"id": "o1", "size": 8}}}, []))
    [fail] = driven(Submitted(job(2, session="s2", objects=["o1"])))  # another session's object
    assert isinstance(fail, Fail) and "freed, or never existed" in fail.message
    assert driven(Released("s2", ["o1"])) == []  # not theirs to release
    [user] = driven(Submitted(job(3, objects=["o1"])))
    assert driven(Released("s1", ["o1"])) == []  # in use: kept until the block ends
    assert driven.state.objects["o1"].released
    [deliver, free] = driven(BlockDone("a", {"job_id": user.job.cluster_job_id}, []))
    assert isinstance(deliver, Deliver) and free == Free("a", ["o1"])
    assert "o1" not in driven.state.objects


def test_a_session_s_end_frees_all_its_objects_and_a_lost_holder_makes_them_unusable():
    driven = Driven()
    a = worker("a")
    driven.ready(a)
    [run] = driven(Submitted(job(1)))
    driven(BlockDone("a", {"job_id": run.job.cluster_job_id, "objects": {
        "x": {"id": "o1", "size": 8}, "y": {"id": "o2", "size": 8}}}, []))
    assert driven(SessionEnded("s1")) == [Free("a", ["o1", "o2"])]
    [run] = driven(Submitted(job(2)))
    driven(BlockDone("a", {"job_id": run.job.cluster_job_id, "objects": {"x": {"id": "o3", "size": 8}}}, []))
    driven(WorkerLost(a, "lost"))
    assert driven.state.object_problem("o3", "s1") == "remote object o3 was lost with worker a, which held it"


def test_a_block_using_an_object_lost_with_the_only_worker_fails_unless_the_worker_comes_back():
    """A user's trial: with no worker left, it waited for ever (``toLocal()`` failed at once)."""
    driven = Driven()
    a = worker("a")
    driven.ready(a)
    [run] = driven(Submitted(job(1)))
    driven(BlockDone("a", {"job_id": run.job.cluster_job_id, "objects": {"x": {"id": "o1", "size": 8}}}, []))
    driven(WorkerLost(a, "lost"))
    [timer] = driven(Submitted(job(2, objects=["o1"])))
    assert isinstance(timer, StartOrphanTimer)
    assert driven(Submitted(job(3))) == []
    [fail] = driven(OrphansDue(timer.reason))  # no worker came back in time
    assert isinstance(fail, Fail) and fail.job.client_job_id == "j2"
    assert "remote object o1 was lost with worker a" in fail.message and "no worker came back" in fail.message
    assert [queued.client_job_id for queued in driven.state.pending] == ["j3"]  # no object of a lost worker
    b = worker("b")
    [run] = driven.ready(b)
    assert run.job.client_job_id == "j3"
    driven(BlockDone("b", {"job_id": run.job.cluster_job_id, "objects": {}}, []))
    # the worker that held it comes back, still holding it: a block waiting for it runs there
    driven(WorkerLost(b, "lost"))
    [timer] = driven(Submitted(job(4, objects=["o1"])))
    [run] = driven.ready(a)
    assert run.job.client_job_id == "j4" and run.worker_id == "a"
    assert driven(OrphansDue(timer.reason)) == []


def test_validate_state_catches_a_contradiction():
    driven = Driven()
    driven.ready(worker("a"))
    [run] = driven(Submitted(job(1)))
    driven.state.pending.append(run.job)
    with pytest.raises(AssertionError):
        driven.state.validate_state()
