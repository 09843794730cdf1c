"""The kernel cache on disk (issue 16): a kernel compiled once by a worker is loaded, not compiled
again, by its other compute process and by the service restarted on the same folder; a damaged
entry is compiled again and gives the right answer; kernels of different argument types are
different entries; kernels compiled by sibling processes load side by side. Compiles and loads
are counted in the worker's stats (``kernels_compiled``, ``kernels_loaded``)."""
import os

import numpy as np

import pyfora
from ufora.engine import kernel_cache, kernels, reducers
from ufora.engine.sources import RangeSource
from tests.conftest import manager_status, one_host, wait_for


def scaled(x):
    return x * 3 + 1


N = 300_000
VALUES = np.arange(N, dtype=np.float64)
EXPECTED = sum(3 * x + 1 for x in range(N))


def exact(answers: tuple) -> bool:
    """Both sums are CPython's, value and type (numpy's float64 over the array)."""
    ints, floats = answers
    return (ints, type(ints)) == (EXPECTED, int) and (floats, type(floats)) == (float(EXPECTED), np.float64)


def run_both_types(service) -> tuple:
    """The same function over ints (a range) and over floats (an array): two kernels."""
    with pyfora.connect(service.url, progress=False) as ufora:
        with ufora.remotely.downloadAll():
            ints = sum(scaled(x) for x in range(N))
            floats = sum(scaled(x) for x in VALUES)
    return ints, floats


def cluster(cores: int, folder: str) -> dict:
    """A one-host service keeping its kernels in ``folder``, splitting every shape it can (so that
    these small sums are compiled whatever the cost model would say of them), its first
    partitions waiting for each compile (so that the block's end is the compile's: the
    background compile is tests/test_background_compiles.py's)."""
    return {**one_host(cores), "UFORA_KERNEL_CACHE_DIR": folder, "UFORA_SPLIT": "always", "UFORA_COMPILE": "first"}


def kernel_counts(service) -> tuple:
    [member] = manager_status(service.url)["members"]
    return member.get("kernels_compiled", 0), member.get("kernels_loaded", 0)


def test_the_other_process_and_a_restarted_service_load_kernels_instead_of_compiling(start_service, tmp_path):
    folder = str(tmp_path / "kernels")
    env = cluster(2, folder)
    first = start_service(env)
    assert exact(run_both_types(first))
    # each kernel compiled by the first process that wanted it, loaded by the other
    wait_for(lambda: kernel_counts(first) == (2, 2), "two kernels compiled once each, and loaded once each")
    assert len([name for name in os.listdir(folder) if name.endswith(kernel_cache.SUFFIX)]) == 2
    first.stop()

    restarted = start_service(env)
    assert exact(run_both_types(restarted))
    wait_for(lambda: kernel_counts(restarted)[1] >= 2, "both kernels loaded from the folder")
    assert kernel_counts(restarted)[0] == 0


def test_a_damaged_entry_is_compiled_again_and_gives_the_right_answer(start_service, tmp_path):
    folder = str(tmp_path / "kernels")
    env = cluster(1, folder)
    first = start_service(env)
    assert exact(run_both_types(first))
    first.stop()
    for name in os.listdir(folder):
        if name.endswith(kernel_cache.SUFFIX):
            path = os.path.join(folder, name)
            data = bytearray(open(path, "rb").read())
            data[len(data) // 2] ^= 0xFF  # one byte of the object code, say
            open(path, "wb").write(bytes(data))

    restarted = start_service(env)
    assert exact(run_both_types(restarted))
    wait_for(lambda: kernel_counts(restarted) == (2, 0), "both kernels compiled again")
    assert restarted.log.count("cannot be used (its checksum does not match its contents)") == 2


def _compile_in_child(factor: int) -> int:
    """Fork a process that compiles ``x * factor`` summed over a range (and keeps it), as a
    compute process does; its exit status."""
    pid = os.fork()
    if pid == 0:
        try:
            kernel_cache.distinct_symbols()
            kernels.compiled(f"times {factor}", reducers.Sum, RangeSource(range(100)),
                             eval(f"lambda x: x * {factor}"), None, None)
        finally:
            os._exit(0)
    return os.waitpid(pid, 0)[1]


def test_kernels_compiled_by_sibling_processes_load_side_by_side(tmp_path):
    """Two compute processes forked from one zygote compile different kernels (numba names
    compiled functions with a counter they inherit alike, which numba issue 10486 reports can
    make a process that loads both call one for the other; each compute process now counts from
    its own random start): a third process loads both, and each gives its own answer."""
    kernel_cache.use(str(tmp_path))
    try:
        kernels.warm_up()
        assert [_compile_in_child(factor) for factor in (5, 7)] == [0, 0]
        events: list = []
        kernels.report_to(events.append)
        source = RangeSource(range(100))
        sums = [kernels.compiled(f"times {factor}", reducers.Sum, source, eval(f"lambda x: x * {factor}"),
                                 None, None).function(*source.kernel_arguments(), 0, 100)[2]
                for factor in (5, 7)]
    finally:
        kernel_cache.use(None)
        kernels.report_to(lambda kind: None)
    assert events == ["loaded", "loaded"]
    assert sums == [5 * 4950, 7 * 4950]


def test_an_embedded_cluster_keeps_its_kernels_for_the_next_run_of_the_script(monkeypatch, tmp_path):
    """pyfora.connect() with no URL keeps compiled kernels in the user's cache folder
    ($XDG_CACHE_HOME/ufora/kernels): the next embedded cluster (the script run again) loads them."""
    monkeypatch.delenv("UFORA_KERNEL_CACHE_DIR")  # the test run's own setting: the user's default here
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("UFORA_SPLIT", "always")
    monkeypatch.setenv("UFORA_COMPILE", "first")
    monkeypatch.delenv("UFORA_URL", raising=False)
    for run in range(2):
        with pyfora.connect(progress=False) as ufora:
            with ufora.remotely.downloadAll():
                floats = sum(scaled(x) for x in VALUES)
            assert (floats, type(floats)) == (float(EXPECTED), np.float64)
            service = ufora._connection  # its url: the embedded cluster's manager
            if run == 0:
                wait_for(lambda: kernel_counts(service)[0] == 1, "the kernel compiled by the first cluster")
            else:
                wait_for(lambda: kernel_counts(service)[1] >= 1, "the kernel loaded by the next cluster")
                assert kernel_counts(service)[0] == 0  # compiled by none of its processes
    folder = tmp_path / "ufora" / "kernels"
    assert [name for name in os.listdir(folder) if name.endswith(kernel_cache.SUFFIX)]


def test_the_temporary_kernel_folder_of_a_killed_worker_is_removed_by_the_next_one(start_service, tmp_path):
    """A worker without a kernel folder makes a temporary one, removed when it stops; one killed
    (SIGKILL) cannot, so the next worker service of the host removes it: CI runs that killed
    workers had left hundreds in /tmp."""
    import signal

    env = {**one_host(1), "TMPDIR": str(tmp_path)}  # tempfile's folder, in this test's alone
    killed = start_service(env)
    [left] = [name for name in os.listdir(tmp_path) if name.startswith("ufora-kernels-")]
    assert left.startswith(f"ufora-kernels-{killed.process.pid}-")
    killed.process.send_signal(signal.SIGKILL)
    killed.process.wait(10)
    assert os.path.isdir(tmp_path / left)

    following = start_service(env)
    assert [name for name in os.listdir(tmp_path) if name.startswith("ufora-kernels-")] == \
        [f for f in os.listdir(tmp_path) if f.startswith(f"ufora-kernels-{following.process.pid}-")]
    following.stop()
    assert not [name for name in os.listdir(tmp_path) if name.startswith("ufora-kernels-")]
