"""PoolScheduler, driven by stimuli alone: no processes, no sockets."""
from collections import defaultdict, deque

from engine import serialization
from engine.block import Block, BlockResult
from engine.pool_messages import BlockDone, PartitionDone, RunBlock, RunPartition, RunTask, TaskDone
from engine import scheduler
from engine.scheduler import LOOKAHEAD

BLOCK = Block("", "f.py", 1, b"")


class PoolScheduler:
    """Drives an engine.scheduler.PoolScheduler with events, validating its state after each:
    answers what a step sends to processes as (process, message) pairs, and keeps the other
    instructions for the test to take (``take_finished``, ``take_offers``...)."""

    def __init__(self, processes: int):
        self.scheduler = scheduler.PoolScheduler(processes)
        self.kept = defaultdict(list)

    def __getattr__(self, name):  # processes, tasks, counts, progress()...
        return getattr(self.scheduler, name)

    @property
    def peer_cores(self) -> int:
        return self.scheduler.peer_cores

    @peer_cores.setter
    def peer_cores(self, cores: int) -> None:
        self.scheduler.peer_cores = cores

    def _step(self, event) -> list:
        instructions = self.scheduler.handle(event)
        self.scheduler.validate_state()
        for instruction in instructions:
            if not isinstance(instruction, scheduler.Send):
                self.kept[type(instruction)].append(instruction)
        return [(i.index, i.message) for i in instructions if isinstance(i, scheduler.Send)]

    def _take(self, kind) -> list:
        taken, self.kept[kind] = self.kept[kind], []
        return taken

    def submit_block(self, job_id, block):
        return self._step(scheduler.SubmitBlock(job_id, block))

    def on_message(self, index, message):
        return self._step(scheduler.ProcessSaid(index, message))

    def on_process_gone(self, index, reason, replacing=False):
        return self._step(scheduler.ProcessGone(index, reason, replacing))

    def on_replacement_failed(self, reason):
        return self._step(scheduler.ReplacementFailed(reason))

    def add_process(self, index):
        return self._step(scheduler.ProcessAdded(index))

    def cancel(self, job_id):
        self._step(scheduler.Cancel(job_id))
        return sorted((kill.index for kill in self._take(scheduler.Kill)), key=str)

    def pull_from_peer(self, peer, task_id):
        self._step(scheduler.PeerPull(peer, task_id))
        answers = self._take(scheduler.PartitionForPeer)
        return (answers[0].slot, answers[0].payload, answers[0].lo, answers[0].hi, answers[0].windows) \
            if answers else None

    def peer_gone(self, peer, reason):
        return self._step(scheduler.PeerGone(peer, reason))

    def idle_process(self):
        self._step(scheduler.Reserve())
        reserved = self._take(scheduler.Reserved)
        return reserved[0].index if reserved else None

    def release(self, index):
        return self._step(scheduler.Release(index))

    def run_foreign(self, index, peer, task_id, payload, lo, hi, windows=()):
        return self._step(scheduler.RunForeign(index, peer, task_id, payload, lo, hi, windows))

    def take_finished(self):
        return [(done.job_id, done.result) for done in self._take(scheduler.Finished)]

    def take_offers(self):
        return [offer.task_id for offer in self._take(scheduler.Offer)]

    def take_foreign_done(self):
        return [(d.peer, d.task_id, d.lo, d.hi, d.stop, d.outcome) for d in self._take(scheduler.ForeignDone)]

    def take_foreign_lost(self):
        return [(d.peer, d.task_id, d.lo, d.hi) for d in self._take(scheduler.ForeignLost)]


def kinds(sends):
    return [(index, type(message).__name__) for index, message in sends]


def by_process(sends):
    """Each process's messages, in the order its pipe delivers them."""
    grouped = defaultdict(list)
    for index, message in sends:
        grouped[index].append(message)
    return grouped


def test_a_block_goes_to_an_idle_process_and_its_result_is_reported():
    s = PoolScheduler(2)
    assert kinds(s.submit_block("job", BLOCK)) == [(0, "RunBlock")]
    assert s.on_message(0, BlockDone("job", BlockResult())) == []
    assert [job for job, _ in s.take_finished()] == ["job"]


def done(task_id, lo, hi, outcome):
    """A partition_done message as a compute process sends it: the outcome pickled, opaque."""
    return PartitionDone(task_id, lo, hi, outcome[3], serialization.dumps(outcome))


def test_the_driver_and_every_idle_process_pull_partitions_until_the_task_is_done():
    s = PoolScheduler(2)
    s.submit_block("job", BLOCK)
    sends = s.on_message(0, RunTask(b"task", 1000, False, []))
    assert sorted(kinds(sends)) == [(0, "RunPartition")] + [(1, "RunPartition")] * LOOKAHEAD
    covered = []
    pipes = defaultdict(deque)
    for index, message in sends:
        pipes[index].append(message)
    while any(pipes.values()):
        index = next(i for i, pipe in pipes.items() if pipe)
        task_id, _, lo, hi, _ = pipes[index].popleft()
        covered.append((lo, hi))
        for i, m in s.on_message(index, done(task_id, lo, hi, ("ok", (True, hi - lo), True, False))):
            if isinstance(m, RunPartition):
                pipes[i].append(m)
            else:
                assert (i, type(m)) == (0, TaskDone)
                outcomes = m.outcomes
    assert sorted(covered) == [(lo, hi) for lo, hi, _ in outcomes]
    assert sum(serialization.loads(outcome)[1][1] for _, _, outcome in outcomes) == 1000


def test_a_second_block_waits_until_partitions_are_done():
    """Partitions before new blocks: a process free to take either is given the running task's
    partitions while it has any left, and the waiting block only after."""
    s = PoolScheduler(2)
    s.submit_block("a", BLOCK)
    held = deque(by_process(s.on_message(0, RunTask(b"t", 1000, False, [])))[1])  # 0 drives a
    assert s.submit_block("b", BLOCK) == []  # 1 holds partitions of a
    [task] = s.tasks.values()
    given_b = False
    while held:  # process 1 alone works through a's partitions, and is free after each
        task_id, _, lo, hi, _ = held.popleft()
        for index, message in s.on_message(1, done(task_id, lo, hi, ("ok", (True, 0), True, False))):
            assert index == 1 and not given_b
            if isinstance(message, RunBlock):
                assert message.job_id == "b" and not task.next_partition_available(), task.plan.remaining
                given_b = True
            else:
                held.append(message)
    assert given_b


def test_a_partition_lost_with_its_process_is_handed_out_again_once():
    s = PoolScheduler(3)
    s.submit_block("job", BLOCK)
    sends = by_process(s.on_message(0, RunTask(b"t", 3000, False, [])))
    lost = [(message.lo, message.hi) for message in sends[2]]
    assert s.on_process_gone(2, "killed") == []  # nobody is free to take them yet
    # process 1 finishes what it holds and must be handed the lost ones first
    for task_id, _, lo, hi, _ in sends[1]:
        nxt = s.on_message(1, done(task_id, lo, hi, ("ok", (True, 0), True, False)))
    assert [(message.lo, message.hi) for _, message in nxt] == lost[:1]


def test_with_no_process_left_waiting_and_new_blocks_fail_instead_of_hanging():
    s = PoolScheduler(1)
    s.submit_block("a", BLOCK)
    s.submit_block("b", BLOCK)
    s.on_process_gone(0, "killed")
    s.submit_block("c", BLOCK)
    failed = dict(s.take_finished())
    assert sorted(failed) == ["a", "b", "c"]
    assert "no compute process" in failed["b"].error.message


def test_a_dead_driver_fails_its_block_with_a_clear_error():
    s = PoolScheduler(2)
    s.submit_block("job", BLOCK)
    s.on_process_gone(0, "signal 9")
    [(job, result)] = s.take_finished()
    assert job == "job" and "died" in result.error.message and "signal 9" in result.error.message


def test_a_stopping_outcome_ends_the_task_once_everything_before_it_is_done():
    s = PoolScheduler(2)
    s.submit_block("job", BLOCK)
    sends = by_process(s.on_message(0, RunTask(b"t", 100_000, False, [])))
    (tid, _, lo0, hi0, _), (_, _, lo1, hi1, _) = sends[0][0], sends[1][0]
    assert lo0 < lo1
    # the later partition decides (say any() found True): nothing after it is handed out,
    # and the task waits only for the earlier partition
    after = s.on_message(1, done(tid, lo1, hi1, ("ok", (True, 5), True, True)))
    assert after == []
    finished = s.on_message(0, done(tid, lo0, hi0, ("ok", (False, hi0), True, False)))
    [(driver, message)] = finished
    assert (driver, type(message)) == (0, TaskDone)
    outcomes = message.outcomes
    assert [o[0] for o in outcomes] == [lo0, lo1]


def test_peers_pull_partitions_of_shareable_tasks_one_at_a_time():
    s = PoolScheduler(1)
    s.peer_cores = 1
    s.submit_block("job", BLOCK)
    [(_, local)] = s.on_message(0, RunTask(b"t", 1000, True, []))
    [task_id] = s.take_offers()
    slot, _, lo, hi, _ = s.pull_from_peer("B", task_id)
    assert lo == local.hi  # the next range after the local one
    assert s.on_message(slot, done(task_id, lo, hi, ("ok", (True, 1), True, False))) == []
    assert slot not in s.processes  # a remote slot lives for one partition
    assert s.counts["remote_partitions"] == 1


def test_a_departed_peer_s_partitions_are_computed_again_locally():
    s = PoolScheduler(1)
    s.peer_cores = 1
    s.submit_block("job", BLOCK)
    [(_, local)] = s.on_message(0, RunTask(b"t", 1000, True, []))
    _, _, lo, hi, _ = s.pull_from_peer("B", local.task_id)
    s.peer_gone("B", "killed")
    # the driver finishes its partition and is handed the lost one before new ones
    nxt = s.on_message(0, done(local.task_id, local.lo, local.hi, ("ok", (True, 1), True, False)))
    assert (nxt[0][1].lo, nxt[0][1].hi) == (lo, hi)


def test_tasks_reading_shared_memory_stay_on_their_worker():
    s = PoolScheduler(1)
    s.peer_cores = 4
    s.submit_block("job", BLOCK)
    [(_, local)] = s.on_message(0, RunTask(b"t", 1000, False, []))
    assert s.take_offers() == [] and s.pull_from_peer("B", local.task_id) is None


def test_a_peer_s_partition_runs_on_an_idle_process_and_comes_back():
    s = PoolScheduler(2)
    index = s.idle_process()
    assert index is not None
    [(i, message)] = s.run_foreign(index, "A", 7, b"payload", 0, 10)
    assert i == index and message.task_id == ("A", 7)
    s.on_message(index, done(("A", 7), 0, 10, ("ok", (True, 3), True, False)))
    assert s.take_foreign_done() == [("A", 7, 0, 10, False, serialization.dumps(("ok", (True, 3), True, False)))]
    assert s.counts["foreign_partitions"] == 1


def test_a_peer_s_partition_whose_process_dies_is_reported_lost_to_the_peer():
    s = PoolScheduler(2)
    index = s.idle_process()
    s.run_foreign(index, "A", 7, b"payload", 0, 10)
    s.on_process_gone(index, "segfault")
    assert s.take_foreign_lost() == [("A", 7, 0, 10)]
    # and a partition given to a process that died between reservation and arrival
    other = s.idle_process()
    s.on_process_gone(other, "segfault")
    assert s.run_foreign(other, "A", 7, b"payload", 10, 20) == []
    assert s.take_foreign_lost() == [("A", 7, 10, 20)]


def test_the_origin_hands_a_lost_remote_partition_out_again():
    s = PoolScheduler(1)
    s.peer_cores = 1
    s.submit_block("job", BLOCK)
    [(_, local)] = s.on_message(0, RunTask(b"t", 1000, True, []))
    slot, _, lo, hi, _ = s.pull_from_peer("B", local.task_id)
    assert s.on_process_gone(slot, "its process on worker B died") == []
    nxt = s.on_message(0, done(local.task_id, local.lo, local.hi, ("ok", (True, 1), True, False)))
    assert (nxt[0][1].lo, nxt[0][1].hi) == (lo, hi)


def test_a_process_that_drives_no_block_holds_its_next_partition_except_in_the_tail():
    s = PoolScheduler(2)
    s.submit_block("job", BLOCK)
    sends = by_process(s.on_message(0, RunTask(b"t", 100_000, False, [])))
    assert len(sends[0]) == 1 and len(sends[1]) == LOOKAHEAD  # the driver gets one at a time
    held = {1: deque(sends[1]), 0: deque(sends[0])}
    plan, in_tail = next(iter(s.tasks.values())).plan, 0
    while held[1]:  # process 1 alone works through the plan; the driver holds its first
        task_id, _, lo, hi, _ = held[1].popleft()
        tapering = plan.tapering
        more = by_process(s.on_message(1, done(task_id, lo, hi, ("ok", (True, 0), True, False))))
        assert set(more) <= {1} and len(held[1]) + len(more[1]) <= LOOKAHEAD
        if not tapering:  # the smallest partitions come one at a time
            in_tail += 1
            assert len(held[1]) + len(more[1]) <= 1
        held[1].extend(more[1])
    assert plan.remaining == 0 and in_tail >= 5


def test_a_cancel_kills_only_what_computes_the_block_and_gives_the_doomed_nothing_more():
    s = PoolScheduler(3)
    s.submit_block("a", BLOCK)
    s.submit_block("b", BLOCK)
    s.on_message(0, RunTask(b"ta", 100_000, False, []))  # a drives on 0, b on 1
    held = by_process(s.on_message(1, RunTask(b"tb", 100_000, False, [])))
    task_a, task_b = sorted(s.tasks)
    assert [m.task_id for m in held[1]] == [task_a]  # the oldest task first, the driver one at a time
    # process 2 computes one of a's partitions with one of b's queued behind it
    for task_id, partition in s.processes[2].partitions[1:]:  # dropped: only the cancel is looked at
        del s.tasks[task_id].running[partition]
    s.processes[2].partitions[1:] = []
    queued = (0, 10)
    s.tasks[task_b].running[queued] = 2
    s.processes[2].partitions.append((task_b, queued))
    assert s.cancel("b") == [1]  # not 2: what it computes now is a's
    doomed = s.cancel("a")
    assert sorted(doomed) == [0, 1, 2]  # a's driver, and 1 and 2 computing a's partitions
    assert s._dispatch() == []  # nothing more reaches them before their deaths are noticed
