"""Each block's output on its way to its client, at the rate the client reads it. No I/O here.

A block that prints 100 MB must neither fill the worker's memory nor hold up the other blocks
whose results share the worker's channel to the manager. So output travels on credit: at most
``WINDOW`` characters of one block's output are on their way (sent by the worker, not yet
acknowledged by the client, through the manager); what comes next waits here, coalesced into
messages of at most ``CHUNK`` characters (a longer line is split, never dropped); and when more
than ``QUEUE`` characters wait, the worker stops reading the pipe of the process that prints, so
its ``print`` blocks, as it would writing to a slow terminal. The warning and log streams' lines
are records (``schema.OUTPUT``): its text is cut between lines, never inside one.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Deque, Dict, List, Tuple

from ufora.net import schema

WINDOW = 256 << 10  # characters of one block's output on their way to its client
QUEUE = 1 << 20     # characters of one block's output waiting here before its process is paused
CHUNK = 64 << 10    # characters in one output message at most


@dataclass
class _BlockOutput:
    waiting: Deque[Tuple[str, str]] = field(default_factory=deque)  # (stream, text), in order
    waiting_chars: int = 0
    in_flight: int = 0  # characters sent, not acknowledged yet


class OutputFlow:
    def __init__(self) -> None:
        self._blocks: Dict[str, _BlockOutput] = {}

    def add(self, job_id: str, stream: str, text: str) -> None:
        block = self._blocks.setdefault(job_id, _BlockOutput())
        for piece in _records(text) if stream in schema.RECORD_STREAMS else _chunks(text):
            block.waiting.append((stream, piece))
        block.waiting_chars += len(text)

    def take(self, job_id: str) -> List[Tuple[str, str]]:
        """The messages to send now: (stream, text), each text at most CHUNK characters,
        consecutive texts of one stream joined, while the block's window has room."""
        block = self._blocks.get(job_id)
        messages: List[Tuple[str, str]] = []
        while block is not None and block.waiting and block.in_flight < WINDOW:
            stream, text = block.waiting.popleft()
            while block.waiting and block.waiting[0][0] == stream and len(text) + len(block.waiting[0][1]) <= CHUNK:
                text += block.waiting.popleft()[1]
            block.waiting_chars -= len(text)
            block.in_flight += len(text)
            messages.append((stream, text))
        return messages

    def acknowledged(self, job_id: str, chars: int) -> None:
        block = self._blocks.get(job_id)
        if block is not None:
            block.in_flight = max(0, block.in_flight - chars)

    def congested(self, job_id: str) -> bool:
        """Too much of the block's output waits: stop reading the process that prints it."""
        block = self._blocks.get(job_id)
        return block is not None and block.waiting_chars > QUEUE

    def sent(self, job_id: str) -> bool:
        """Nothing of the block's output waits here (its result may follow it)."""
        block = self._blocks.get(job_id)
        return block is None or not block.waiting

    def drop(self, job_id: str) -> None:
        self._blocks.pop(job_id, None)


def _chunks(text: str) -> List[str]:
    return [text[start:start + CHUNK] for start in range(0, len(text), CHUNK)]


def _records(text: str) -> List[str]:
    """Lines of the warning stream (one record each, shorter than CHUNK) in pieces of at most
    CHUNK characters, cut between lines: a record is never split."""
    pieces: List[str] = []
    for line in text.splitlines(keepends=True):
        if pieces and len(pieces[-1]) + len(line) <= CHUNK:
            pieces[-1] += line
        else:
            pieces.append(line)
    return pieces
