"""Object stores (``pyfora.storage``): the original's ``importS3Dataset``/``exportS3Dataset`` and the
readers of ``pyfora.datasets`` on ``s3://`` URLs, on a real service, against a local S3 server
(moto, started by the test module on loopback; no test reaches the internet)."""
import io
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pandas as pd
import pyarrow
import pyarrow.csv
import pyarrow.parquet
import pytest

import pyfora
from tests.conftest import Service, free_port_pair, one_host

boto3 = pytest.importorskip("boto3")
pytest.importorskip("s3fs")
pytest.importorskip("moto")


@pytest.fixture(scope="module")
def s3_settings():
    """A moto S3 server on a free loopback port, and the variables that point S3 clients at it, set
    here too: a block runs in its caller's environment (``engine.process_settings``), so the
    credentials a user sets where the client runs are those the workers use."""
    port = free_port_pair()
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    settings = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    mp = pytest.MonkeyPatch()
    for name, value in settings.items():  # the client's environment: a block carries it to the workers
        mp.setenv(name, value)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(settings["AWS_ENDPOINT_URL"], timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the local S3 server did not start")
                time.sleep(0.1)
        yield settings
    finally:
        mp.undo()
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="module")
def bucket(s3_settings):
    client = boto3.client("s3", endpoint_url=s3_settings["AWS_ENDPOINT_URL"],
                          aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
    client.create_bucket(Bucket="data")
    return client


@pytest.fixture(scope="module")
def ufora(s3_settings):
    with Service({**one_host(2), **s3_settings}) as service:
        executor = pyfora.connect(service.url, progress=False)
        yield executor
        executor.close()


def csv_bytes(rows: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"i": np.arange(rows), "x": rng.random(rows), "w": [f"w{j % 31}" for j in range(rows)]})
    return frame.to_csv(index=False).encode()


def test_import_and_export_s3_dataset_keep_the_original_s_names(ufora, bucket):
    bucket.put_object(Bucket="data", Key="notes/a.txt", Body="first line\nsecond, with é\n".encode())
    proxy = ufora.importS3Dataset("data", "notes/a.txt").result()
    assert proxy.toLocal().result() == "first line\nsecond, with é\n"
    assert ufora.exportS3Dataset("written on the cluster\n", "data", "notes/b.txt").result(timeout=60) is None
    assert bucket.get_object(Bucket="data", Key="notes/b.txt")["Body"].read() == b"written on the cluster\n"
    assert ufora.exportS3Dataset(proxy, "data", "notes/c.txt").result(timeout=60) is None  # a proxy of a str
    assert bucket.get_object(Bucket="data", Key="notes/c.txt")["Body"].read() == "first line\nsecond, with é\n".encode()


def test_a_missing_key_or_a_value_that_is_no_text_fails_as_there(ufora, bucket):
    proxy = ufora.importS3Dataset("data", "no/such/key")
    with pytest.raises(FileNotFoundError):
        proxy.result().toLocal().result()
    with pytest.raises(TypeError, match="exportS3Dataset writes a str, not list"):
        ufora.exportS3Dataset([1, 2], "data", "notes/d.txt").result(timeout=60)


def test_csv_files_in_a_bucket_are_read_in_pieces_as_pyarrow_reads_them(ufora, bucket):
    parts = [csv_bytes(300_000, seed) for seed in (1, 2)]  # 6 MB each: two pieces apiece
    for number, body in enumerate(parts):
        bucket.put_object(Bucket="data", Key=f"sales/part-{number}.csv", Body=body)
    expected = pyarrow.concat_tables([pyarrow.csv.read_csv(io.BytesIO(body)) for body in parts]).to_pandas()
    got = ufora.importDataset("s3://data/sales/part-*.csv").result().toLocal().result()
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    with ufora.remotely.onCluster().downloadAll():
        rows = len(pyfora.read_csv("s3://data/sales/part-1.csv"))
    assert rows == 300_000


def test_npy_and_parquet_objects_read_as_numpy_and_pyarrow_read_them(ufora, bucket, tmp_path):
    array = np.arange(12, dtype=np.int16).reshape(4, 3)
    np.save(tmp_path / "a.npy", array)
    bucket.put_object(Bucket="data", Key="arrays/a.npy", Body=(tmp_path / "a.npy").read_bytes())
    table = pyarrow.table({"k": ["a", None, "c"], "v": [1.5, 2.5, None]})
    pyarrow.parquet.write_table(table, tmp_path / "t.parquet")
    bucket.put_object(Bucket="data", Key="tables/t.parquet", Body=(tmp_path / "t.parquet").read_bytes())
    with ufora.remotely.onCluster().downloadAll():
        loaded = pyfora.read_npy("s3://data/arrays/a.npy")
        frame = pyfora.read_parquet("s3://data/tables/*.parquet")
    assert loaded.dtype == np.int16 and np.array_equal(loaded, array)
    pd.testing.assert_frame_equal(frame, table.to_pandas())


def test_a_url_that_names_no_object_is_a_file_not_found_error(ufora, bucket):
    with pytest.raises(FileNotFoundError, match=r"no such file where this runs .*'s3://data/nothing-\*.csv'"):
        with ufora.remotely.onCluster().downloadAll():
            pyfora.read_csv("s3://data/nothing-*.csv")

