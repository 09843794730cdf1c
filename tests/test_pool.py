"""The fork-based compute pool with its scheduler, driven synchronously: engine/ alone, real
processes and pipes, no sockets."""
import os
import signal
import textwrap
import time
import selectors

import pytest

from ufora.engine import proc, serialization, shm
from ufora.engine.block import ASSIGNED, HAND_OVER_BYTES, Block, BlockResult
from ufora.engine.pool import ZYGOTE_NAME, ComputePool
from ufora.engine.pool_messages import RunPartition
from ufora.engine.scheduler import Finished, PoolScheduler, ProcessGone, ProcessSaid, SubmitBlock
from tests.conftest import children, descendants
from tests.inline_block import variables_of
from tests.primes import isPrime as is_prime


SOURCE = textwrap.dedent('''
    with cluster:
        result = sum(is_prime(x) for x in range(n))
        pid = os.getpid()
''')


@pytest.fixture
def pool():
    compute = ComputePool(2)
    yield [compute.processes[i] for i in sorted(compute.processes)]
    compute.stop()


def run(pool, blocks, on_partition=None, timeout=60):
    """Drive the scheduler until every block is finished: {job_id: BlockResult}."""
    scheduler = PoolScheduler(len(pool))
    alive = {p.index: p for p in pool}
    partitions_by_process = {p.index: 0 for p in pool}

    results = {}

    def send(instructions):
        scheduler.validate_state()  # after every event
        for instruction in instructions:
            if isinstance(instruction, Finished):
                results[instruction.job_id] = instruction.result
                continue
            index, message = instruction.index, instruction.message
            if isinstance(message, RunPartition):
                partitions_by_process[index] += 1
                if on_partition:
                    on_partition(index, scheduler)
            try:
                pool[index].put(message)
            except OSError:
                pass  # a dead process: noticed when its pipe is read

    for job_id, block in blocks.items():
        send(scheduler.handle(SubmitBlock(job_id, block)))
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        while len(results) < len(blocks) and time.monotonic() < deadline:
            for process in alive.values():  # as the service's event loop does
                events = selectors.EVENT_READ | (selectors.EVENT_WRITE if process.outbox.pending else 0)
                selector.register(process.fileno(), events, process)
            ready = selector.select(timeout=1)
            for process in alive.values():
                selector.unregister(process.fileno())
            for key, events in ready:
                process = key.data
                try:
                    if events & selectors.EVENT_WRITE:
                        process.flush()
                    messages = process.messages() if events & selectors.EVENT_READ else []
                except (EOFError, OSError):
                    del alive[process.index]
                    send(scheduler.handle(ProcessGone(process.index, "killed by the test")))
                    continue
                for message in messages:
                    send(scheduler.handle(ProcessSaid(process.index, message)))
    return results, partitions_by_process


def block(n):
    return Block(SOURCE, "job.py", 2, serialization.dumps({"is_prime": is_prime, "n": n, "os": os}))


def test_a_block_is_split_over_every_pool_process(pool):
    results, partitions = run(pool, {"job": block(300_000)})
    variables = variables_of(results["job"])
    assert results["job"].error is None
    assert variables["result"] == 25_999  # 25,997 primes below 300,000, plus 0 and 1
    assert variables["pid"] in [p.pid for p in pool]
    assert all(count >= 1 for count in partitions.values()), partitions  # pulled, not dealt: counts vary


def test_more_blocks_than_processes_all_finish(pool):
    results, _ = run(pool, {f"job{i}": block(50_000 + i) for i in range(5)})
    assert sorted(results) == [f"job{i}" for i in range(5)]
    assert all(r.error is None for r in results.values())


def test_a_killed_pool_process_fails_its_block_clearly_and_the_rest_carry_on(pool):
    killed = []

    def kill_the_other_once(index, scheduler):
        if not killed and scheduler.processes[index].job_id is None:
            killed.append(pool[index].pid)
            os.kill(pool[index].pid, signal.SIGKILL)

    results, _ = run(pool, {"job": block(300_000)}, on_partition=kill_the_other_once)
    assert killed
    result = results["job"]
    # The partition the dead process held was handed out again: the answer is still right.
    assert result.error is None
    assert variables_of(result)["result"] == 25_999


def test_a_large_result_reaches_the_service_through_shared_memory_not_the_pipe(pool):
    source = "with cluster:\n    big = bytes(range(256)) * 20_000\n    small = 3\n"
    results, _ = run(pool, {"job": Block(source, "job.py", 1, serialization.dumps({}))})
    result = results["job"]
    assert result.error is None and list(result.variables) == [ASSIGNED]  # (the variables travel together)
    assert isinstance(result.variables[ASSIGNED], memoryview)  # mapped from the handed segment
    assert variables_of(result) == {"big": bytes(range(256)) * 20_000, "small": 3}
    ours = {os.getpid(), *descendants(os.getpid())}  # another run's live segments are not this test's
    owners = [int(n[len(shm.PREFIX):].split("_")[0]) for n in os.listdir("/dev/shm") if n.startswith(shm.PREFIX)]
    assert not [o for o in owners if o in ours or not os.path.exists(f"/proc/{o}")]  # unlinked at once


def test_a_handed_result_that_cannot_be_read_fails_the_block_clearly():
    result = BlockResult(variables={"big": b"x" * HAND_OVER_BYTES})
    result.hand_over()
    [(segment, _)] = result.handed.values()
    shm.unlink(segment)
    result.take_over()
    assert "'big' was lost on its way from the block" in result.error.message


def test_a_partition_counts_as_compiled_only_when_numba_computed_all_of_it(monkeypatch):
    """What the dashboard shows: a partition begun in CPython while its kernel compiled (its
    outcome in pieces) ran partly in CPython, and is not counted as compiled."""
    from ufora.engine import pool as compute_pool, tasks

    monkeypatch.setattr(tasks, "outcome_bytes", lambda payload, outcome, as_parcel=False: b"pickled")
    mixed = (tasks.PIECES, [(0, 5, ("ok", 1, False, False)), (5, 9, ("ok", 2, True, False))], True, False)
    whole = (tasks.PIECES, [(0, 5, ("ok", 1, True, False)), (5, 9, ("ok", 2, True, False))], True, False)
    assert compute_pool._opaque(b"", mixed, False) == (False, b"pickled", False)
    assert compute_pool._opaque(b"", whole, False) == (False, b"pickled", True)
    assert compute_pool._opaque(b"", ("ok", 3, True, True), False) == (True, b"pickled", True)
    assert compute_pool._opaque(b"", ("ok", 3, False, False), False) == (False, b"pickled", False)


def standbys(compute, zygote):
    """The standby zygotes ``zygote`` forked (a compute process it just forked may not have taken
    its own name yet): the worker forks the first beside the first zygote, a zygote the next."""
    ours = {process.pid for process in compute.processes.values()}
    return [pid for pid in children(zygote) if proc.name(pid) == ZYGOTE_NAME and pid not in ours]


def test_a_killed_zygote_is_replaced_by_its_standby_which_forks_another():
    compute = ComputePool(1)
    try:
        first = compute.zygote
        standby = compute._standby.pid  # forked beside it
        assert proc.name(standby) == ZYGOTE_NAME and not standbys(compute, first)
        os.kill(first, signal.SIGKILL)
        process = compute.spawn()
        assert compute.zygote == standby and process.forked_by == standby
        [new_standby] = standbys(compute, standby)
        os.kill(new_standby, signal.SIGKILL)
        while proc.alive(new_standby):
            time.sleep(0.01)
        another = compute.spawn()  # finds its standby gone and forks another
        [newer] = standbys(compute, standby)
        assert newer != new_standby and another.forked_by == standby
        assert compute.forget(process.index)[1] == 0  # it exits as its pipe closes, reaped by its zygote
        [(index, orphan)] = [(i, p) for i, p in compute.processes.items() if p.forked_by == first]
        began = time.monotonic()
        assert compute.forget(index)[1] == -1 and time.monotonic() - began < 0.1  # its zygote cannot tell
    finally:
        compute.stop()
    assert not proc.alive(standby)


def test_killed_zygotes_are_said_to_be_gone_and_reaped_not_a_broken_pipe():
    """Zygotes killed under the worker: asking one to fork broke its pipe (an OSError), which the
    worker took for a passing shortage and tried again every 5 s forever, its blocks waiting."""
    compute = ComputePool(1)
    try:
        first = compute.zygote
        for pid in [first, compute._standby.pid]:
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with pytest.raises(RuntimeError, match="zygote is gone"):
                compute.spawn()
            try:
                os.kill(first, 0)  # a zombie still answers
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the zygote was never reaped")
    finally:
        compute.stop()


def test_a_zygote_that_ends_while_its_worker_lives_leaves_the_worker_s_segments_alone():
    """A zygote swept every segment of its worker as it ended, taken for the worker's end: a
    standby orphaned as its zygote died mid-handover would have swept the live worker's remote
    objects."""
    compute = ComputePool(1)
    try:
        held = shm.write_for_service(b"a remote object's bytes")
        standby = compute._standby.pid
        compute._standby.control.close()  # as the standby sees its worker stop
        deadline = time.monotonic() + 10
        while proc.alive(standby) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not proc.alive(standby) and os.path.exists(f"/dev/shm/{held}")
        shm.unlink(held)
    finally:
        compute._standby = None
        compute.stop()
