"""Which compute process does what next: a plain state machine, no I/O.

Driven by three stimuli (a block submitted, a message from a process, a process gone), it
returns the messages to send, as ``(process index, message)`` pairs, and the blocks finished.
Rules:
* A process is *available for partitions* when it is not computing and is either idle or a
  driver waiting for its own task; it is *available for a block* only when idle.
* Partitions come before new blocks: finishing running work first keeps latency low.
* Partitions of the oldest task first; each task is cut by its own guided plan, sized for
  the whole pool, and pulled by whoever is free, so a slow process takes fewer partitions.
* An outcome that says ``stop`` (an error, or ``any``/``all`` decided) at position p ends the
  task as soon as every partition before p is done; partitions after p are not handed out, and
  results of those already running are dropped.
* A partition whose process died is handed out again, once; a block whose driver died fails
  with an error that says so; with no process left, every waiting block fails the same way.
"""
from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Deque, Dict, List, Optional, Tuple

from engine.block import Block, BlockResult
from engine.errors import RemoteError
from engine.partition import GuidedPlan

Send = Tuple[int, tuple]


@dataclass
class _Task:
    task_id: int
    driver: int
    payload: bytes
    plan: GuidedPlan
    retry: Deque[Tuple[int, int]] = field(default_factory=deque)
    running: Dict[Tuple[int, int], int] = field(default_factory=dict)  # partition -> process
    retried: set = field(default_factory=set)
    outcomes: List[Tuple[int, int, Any]] = field(default_factory=list)
    cutoff: Optional[int] = None  # lo of the first stopping outcome

    def next_partition(self) -> Optional[Tuple[int, int]]:
        if self.retry:
            return self.retry.popleft()
        return self.plan.next_partition() if self.cutoff is None else None

    def record(self, lo: int, hi: int, outcome: tuple) -> None:
        self.outcomes.append((lo, hi, outcome))
        if outcome[3] and (self.cutoff is None or lo < self.cutoff):
            self.cutoff = lo
            self.retry = deque(p for p in self.retry if p[0] < lo)

    @property
    def finished(self) -> bool:
        if self.retry:
            return False
        if self.cutoff is None:
            return not self.running and self.plan.remaining == 0
        return not any(lo < self.cutoff for lo, _ in self.running)

    def ordered_outcomes(self) -> List[Tuple[int, int, Any]]:
        kept = [o for o in self.outcomes if self.cutoff is None or o[0] <= self.cutoff]
        return sorted(kept, key=lambda outcome: outcome[0])


@dataclass
class _Process:
    index: int
    busy: bool = False
    job_id: Optional[str] = None     # the block this process drives
    waiting_task: Optional[int] = None  # set while the driver waits for its task
    partition: Optional[Tuple[int, Tuple[int, int]]] = None


class PoolScheduler:
    def __init__(self, processes: int):
        self.processes = {i: _Process(i) for i in range(processes)}
        self.blocks: Deque[Tuple[str, Block]] = deque()
        self.tasks: Dict[int, _Task] = {}
        self._task_ids = itertools.count(1)
        self.finished: List[Tuple[str, BlockResult]] = []

    def submit_block(self, job_id: str, block: Block) -> List[Send]:
        if not self.processes:
            self._fail(job_id, "this worker has no compute process left")
            return []
        self.blocks.append((job_id, block))
        return self._dispatch()

    def on_message(self, index: int, message: tuple) -> List[Send]:
        process = self.processes[index]
        kind = message[0]
        if kind == "run_task":
            _, payload, length = message
            task = _Task(next(self._task_ids), index, payload, GuidedPlan(length, len(self.processes)))
            self.tasks[task.task_id] = task
            process.busy, process.waiting_task = False, task.task_id
        elif kind == "partition_done":
            _, task_id, lo, hi, outcome = message
            process.busy, process.partition = False, None
            task = self.tasks.get(task_id)
            if task is not None:
                task.running.pop((lo, hi), None)
                task.record(lo, hi, outcome)
        elif kind == "block_done":
            _, job_id, result = message
            self.finished.append((job_id, result))
            process.busy, process.job_id = False, None
        return self._dispatch()

    def on_process_gone(self, index: int, reason: str) -> List[Send]:
        process = self.processes.pop(index)
        if process.partition is not None:
            task_id, partition = process.partition
            task = self.tasks.get(task_id)
            if task is not None:
                task.running.pop(partition, None)
                if partition in task.retried:
                    task.record(*partition, ("error", _lost(partition, reason), False, True))
                else:
                    task.retried.add(partition)
                    task.retry.append(partition)
        if process.job_id is not None:
            self._fail(process.job_id, f"the compute process driving this block died ({reason})")
            if process.waiting_task is not None:
                self.tasks.pop(process.waiting_task, None)
        if not self.processes:
            while self.blocks:
                self._fail(self.blocks.popleft()[0], f"no compute process is left ({reason})")
        return self._dispatch()

    def _fail(self, job_id: str, message: str) -> None:
        self.finished.append((job_id, BlockResult(error=RemoteError("InternalError", message, ""))))

    def take_finished(self) -> List[Tuple[str, BlockResult]]:
        finished, self.finished = self.finished, []
        return finished

    def _dispatch(self) -> List[Send]:
        sends: List[Send] = []
        for task in list(self.tasks.values()):
            if task.finished:
                del self.tasks[task.task_id]
                driver = self.processes.get(task.driver)
                if driver is not None:
                    driver.busy, driver.waiting_task = True, None
                    sends.append((task.driver, ("task_done", task.ordered_outcomes())))
        for process in self.processes.values():
            if process.busy:
                continue
            if process.job_id is None or process.waiting_task is not None:
                if self._give_partition(process, sends):
                    continue
            if process.job_id is None and self.blocks:
                job_id, block = self.blocks.popleft()
                process.busy, process.job_id = True, job_id
                sends.append((process.index, ("block", job_id, block)))
        return sends

    def _give_partition(self, process: _Process, sends: List[Send]) -> bool:
        for task in self.tasks.values():
            partition = task.next_partition()
            if partition is not None:
                task.running[partition] = process.index
                process.busy, process.partition = True, (task.task_id, partition)
                sends.append((process.index, ("partition", task.task_id, task.payload, *partition)))
                return True
        return False


def _lost(partition: Tuple[int, int], reason: str) -> RemoteError:
    return RemoteError("InternalError",
                       f"partition [{partition[0]}, {partition[1]}) was lost twice: {reason}", "")
