"""The Executor: one client's session with a cluster.

Everything it starts returns a ``concurrent.futures.Future`` (a ``RemoteFuture``: cancelling
it stops the work on the cluster). ``define`` and ``submit`` run as one-line blocks, so that
they share every property of blocks: functions shipped with their files, parallel shapes inside
them split over the cluster, remote objects resolved in place, errors with the user's trace.
"""
from __future__ import annotations

import functools
import logging
import time
from concurrent.futures import Future
from typing import Any, Callable, Dict, Optional, Tuple

from ufora.engine import buffered_pickles, client_objects, module_state
from ufora.net import schema
from pyfora import capture, datasets, progress, remote, run_here, storage
from pyfora.connection import Connection, HeldReleases
from pyfora.embedded import EmbeddedCluster
from pyfora.Exceptions import PyforaError
from pyfora.remote import RemotePythonObject, check_callable, pickles_of, rebuilt, remote_error
from pyfora.with_block import WithBlockExecutor

log = logging.getLogger(__name__)
CORES_KEPT_FOR = 30.0  # seconds the cluster's core count is reused before it is asked again
_CALL_FILE = "<pyfora submit>"
_CALL_SOURCE = "with __ufora_call__:\n    __ufora_value__ = __ufora_function__({})\n"


def _identity(value: Any) -> Any:
    return value


def _read_file(path: str) -> str:
    with open(path) as file:
        return file.read()


class Executor(client_objects.ClientObject):
    """A session with a cluster. A block may hold it (``self.executor``): it travels as a reference,
    and comes back as this very object (``engine.client_objects``)."""

    def __init__(self, connection: Connection, cluster: Optional[EmbeddedCluster] = None,
                 progress: bool = True, serial_here: bool = True):
        self._connection = connection
        self._cluster = cluster
        self._progress = progress
        self._serial_here = serial_here  # blocks with no parallel shape run here (pyfora.run_here)
        self._closed = False
        self.stayOpenOnExit = False
        self.blocksRunHere = 0  # how many of its blocks ran in this process (pyfora.run_here)
        self._cores: Optional[Tuple[float, int]] = None  # (when asked, the cluster's cores then)

    @property
    def remotely(self) -> WithBlockExecutor:
        """A fresh block executor: ``with executor.remotely.downloadAll(): ...``"""
        self._check_open()
        return WithBlockExecutor(self)

    def getWorkerCount(self) -> int:
        """The number of workers registered with the manager now."""
        self._check_open()
        return self._connection.worker_count()

    def _cluster_cores(self) -> int:
        """The compute processes alive on all workers now, as the manager's status says (asked
        again after ``CORES_KEPT_FOR`` seconds): whether a block is worth trying there
        (``pyfora.run_here``)."""
        self._check_open()
        now = time.monotonic()
        if self._cores is None or now - self._cores[0] > CORES_KEPT_FOR:
            try:
                self._cores = (now, self._connection.cluster_cores())
            except PyforaError as exc:  # a block that can run here does not fail for want of the count
                log.info("the cluster's core count is unknown (%s): counted as none", exc)
                return 0 if self._cores is None else self._cores[1]
        return self._cores[1]

    def define(self, obj: Any) -> Future:
        """Upload ``obj``: a Future of a proxy (``RemotePythonObject``) holding it on the cluster."""
        return self.submit(_identity, obj)

    def submit(self, fn: Callable, *args: Any, **kwargs: Any) -> Future:
        """Run ``fn(*args, **kwargs)`` on the cluster: a Future of a proxy of its value. ``fn``
        and the arguments may be proxies; a ``fn`` that is not callable is a
        ``NotCallableError`` at once. A call that raises still gives a proxy, whose
        ``toLocal()`` raises the error (``ComputationError`` and the exception's own type). It
        runs under this process's settings, as a block does (``module_state.always``: the decimal
        context, numpy's error modes, the environment, the working folder...)."""
        self._check_open()
        check_callable(fn)
        held = self._connection.hold_releases()  # until sent: the arguments' objects stay (``hold_releases``)
        try:
            return self._submitted(fn, args, kwargs)
        finally:
            held.end()

    def _submitted(self, fn: Callable, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Future:
        """``submit``'s call, captured and sent."""
        # each argument a free variable of its own, keywords too: a proxy among them whose value the
        # call changes in place is pointed at the changed value (``_proxy_of_call``; a keyword's
        # change was lost, held in a dict of them)
        names = [f"__ufora_argument_{index}__" for index in range(len(args))]
        keywords = {f"__ufora_keyword_{index}__": key for index, key in enumerate(kwargs)}
        labels = {**{name: f"argument {index + 1} of the call" for index, name in enumerate(names)},
                  **{name: f"keyword argument {key!r} of the call" for name, key in keywords.items()}}
        arguments = {**dict(zip(names, args)), **{name: kwargs[key] for name, key in keywords.items()}}
        passed = [*names, "**{" + "".join(f"{key!r}: {name}, " for name, key in keywords.items()) + "}"]
        states = {module_state.STATE: module_state.taken(module_state.always())}
        block = capture.ship(_CALL_SOURCE.format(", ".join(passed)), _CALL_FILE, 1,
                             {"__ufora_function__": fn, **arguments, **states},
                             {"__ufora_function__": "the function called", **labels})
        sources = {_CALL_FILE: block.source, **block.other_sources}
        return self._connection.submit(self._submission(block, download_below=0),
                                       functools.partial(self._proxy_of_call, sources, arguments, labels))

    def importS3Dataset(self, bucketname: str, keyname: str) -> Future:
        """A Future of a proxy of the text of the S3 object ``keyname`` in ``bucketname``, read on the
        cluster (the workers need ``s3fs`` and the store's settings: ``pyfora.storage``)."""
        return self.submit(storage.s3_text, bucketname, keyname)

    def exportS3Dataset(self, valueAsString: Any, bucketname: str, keyname: str) -> Future:
        """Write ``valueAsString`` (a str, or a proxy of one) as the S3 object ``keyname`` in
        ``bucketname``, from the cluster: a Future of None once written, or of the error."""
        written: Future = Future()

        def relay(source: Future, then: Optional[Callable[[Any], None]] = None) -> None:
            try:
                value = source.result()
            except BaseException as exc:  # noqa: BLE001 - the caller's Future carries it
                written.set_exception(exc)
                return
            if then is None:
                written.set_result(None)
            else:
                then(value)
        # the call's proxy, then its value (None, or the write's error raised by toLocal)
        self.submit(storage.write_s3_text, valueAsString, bucketname, keyname).add_done_callback(
            lambda called: relay(called, lambda proxy: proxy.toLocal().add_done_callback(relay)))
        return written

    def importRemoteFile(self, path: str) -> Future:
        """A Future of a proxy of the text of ``path``, a file readable on the workers."""
        return self.submit(_read_file, path)

    def importDataset(self, paths: datasets.Paths) -> Future:
        """A Future of a proxy of the files ``paths`` names (a path, a glob or a list, readable on
        the workers), read in parallel on the cluster by their kind (``pyfora.datasets.read``):
        ``.csv`` and ``.parquet`` as a pandas DataFrame, ``.npy`` as a numpy array."""
        return self.submit(datasets.read, paths)

    def _proxy_of_call(self, sources: Dict[str, str], arguments: Dict[str, Any], labels: Dict[str, str],
                       message: dict) -> RemotePythonObject:
        """The call's result as a proxy (of its error, where it raised); first, the proxies among
        its ``arguments`` (by their names in the call; ``labels``: what to call them) whose values
        it changed in place refer to the changed values (``remote.changed_in_place``: a review
        found those kept, and never freed)."""
        objects = message.get("objects") or {}
        changed = {name: RemotePythonObject(self, described, sources=sources) for name, described in objects.items()
                   if name != "__ufora_value__"}
        value = (RemotePythonObject(self, error=remote_error(message["error"])) if message.get("error") is not None
                 else RemotePythonObject(self, objects["__ufora_value__"], sources=sources))
        remote.warn_all(remote.changed_in_place(changed, arguments, labels))
        return value

    def _fetch(self, object_id: str) -> Future:
        self._check_open()
        return self._connection.fetch(object_id, _value_of_fetch)

    def _release(self, object_id: str) -> None:
        if not self._closed:
            self._connection.release(object_id)

    @property
    def _warning_registries(self) -> Dict[str, dict]:
        """The registries the blocks' warnings are issued with here (``engine.warned``)."""
        return self._connection._warning_registries

    @staticmethod
    def _submission(block: capture.CapturedBlock, download_below: Optional[int]) -> Dict[str, Any]:
        return {"filename": block.filename, "with_line": block.with_line, "source": block.source,
                "free_variables": block.free_variables if isinstance(block.free_variables, buffered_pickles.Buffered)
                else schema.wire_bytes(block.free_variables), "sources": block.other_sources,
                "objects": block.objects, "download_below": download_below, "unread": block.unread}

    def _run_block(self, block: capture.CapturedBlock, download_below: Optional[int],
                   status_callback: Optional[Callable[[dict], None]] = None,
                   held: Optional[HeldReleases] = None) -> dict:
        """Run a captured block and wait: its JOB_DONE message, downloaded. Its progress goes
        to ``status_callback`` and to a progress bar where one would be seen. Ctrl-C while
        waiting cancels the block on the cluster too (``RemoteFuture.result``). ``held``: the
        releases held back since the block was captured, let go once it is sent."""
        try:
            self._check_open()
            future = self._connection.submit(self._submission(block, download_below))
        finally:
            if held is not None:
                held.end()
        if status_callback is not None:
            future.add_progress_callback(status_callback)
        bar = progress.ProgressBar() if self._progress and progress.wanted() else None
        if bar is not None:
            future.add_progress_callback(bar.update)
        succeeded = False
        try:
            message = future.result()
            succeeded = message.get("error") is None
            return message
        finally:
            if bar is not None:
                bar.close(succeeded)

    def _hold_releases(self) -> HeldReleases:
        """No release is told until the hold's ``end()`` (``Connection.hold_releases``)."""
        return self._connection.hold_releases()

    def _release_all(self, message: dict) -> None:
        """Free the remote objects of a block's result that no proxy will hold."""
        self._connection.release_all(message)

    def _check_open(self) -> None:
        if self._closed:
            raise PyforaError("this executor is closed")

    def isClosed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Disconnect (the cluster frees this client's remote objects), and stop the embedded
        cluster if this executor started one."""
        if self._closed:
            return
        self._closed = True
        self._connection.close()
        if self._cluster is not None:
            self._cluster.stop()
        run_here.save()  # what its blocks taught, for the next process (also at exit)

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc_info) -> None:
        if not self.stayOpenOnExit:
            self.close()


def _value_of_fetch(message: dict) -> Any:
    if message.get("error") is not None:
        raise remote_error(message["error"])
    [(data, parts)] = pickles_of(message)
    return rebuilt("the value", data, parts)
