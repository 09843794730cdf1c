"""TLS on the channels between services (issue 15): with UFORA_TLS_CERT/UFORA_TLS_KEY a service's
registry, control and data ports serve TLS only, and with UFORA_TLS_CA it dials them with TLS,
verifying the peer against that authority; the cluster's secret is proven inside TLS. A cluster
of TLS services shares a block across two workers and hands a large result back through the
data channel; a service configured otherwise is refused, says why once naming the setting to
fix, and keeps running. Certificates are made here with the openssl command."""
import json
import ssl
import subprocess
import urllib.request

import numpy as np
import pytest

import pyfora
from ufora.net import config, result_fetch, tls
from tests.conftest import MANAGER_ONLY, joining, wait_for


def _openssl(*arguments: str) -> None:
    subprocess.run(["openssl", *arguments], check=True, capture_output=True)


def _authority(folder, name: str):
    """A certificate authority of our own: (its certificate, its key)."""
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
             "-keyout", str(key), "-out", str(cert))
    return cert, key


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """The cluster's authority, the services' certificate it signed (for 127.0.0.1) and its key,
    and a stranger's authority that signed nothing of ours."""
    folder = tmp_path_factory.mktemp("pki")
    ca, ca_key = _authority(folder, "cluster-ca")
    stranger, _ = _authority(folder, "stranger-ca")
    cert, key, request, extensions = (folder / name for name in ("service.pem", "service.key", "service.csr",
                                                                  "service.ext"))
    extensions.write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=ufora-service", "-keyout", str(key),
             "-out", str(request))
    _openssl("x509", "-req", "-in", str(request), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
             "-days", "2", "-extfile", str(extensions), "-out", str(cert))
    return {"ca": str(ca), "cert": str(cert), "key": str(key), "stranger": str(stranger)}


def tls_env(pki, ca: str = "ca") -> dict:
    """A service serving the cluster's certificate and trusting ``pki[ca]`` ("" trusts nothing:
    it dials in plain TCP)."""
    return {"UFORA_TLS_CERT": pki["cert"], "UFORA_TLS_KEY": pki["key"], "UFORA_TLS_CA": pki[ca] if ca else ""}


def status(manager, pki) -> dict:
    context = ssl.create_default_context(cafile=pki["ca"]) if manager.tls else None
    with urllib.request.urlopen(manager.url + "/api/status", timeout=10, context=context) as page:
        return json.load(page)


def test_a_tls_cluster_shares_a_block_across_two_workers_and_downloads_a_large_result(start_service, pki,
                                                                                      monkeypatch):
    taken = []  # results the client took from a worker's data channel
    real = result_fetch.fetch

    def fetch(where, *args):
        buffers = real(where, *args)
        taken.append(where)
        return buffers
    monkeypatch.setattr(result_fetch, "fetch", fetch)
    manager = start_service({**MANAGER_ONLY, **tls_env(pki)})
    workers = [start_service({**joining(manager, 1), **tls_env(pki)}) for _ in range(2)]
    wait_for(lambda: status(manager, pki)["workers"] == 2, "both workers to join over TLS")
    with pyfora.connect(manager.url, tls_ca=pki["ca"], progress=False) as ufora:
        with ufora.remotely:
            big = np.arange(20_000_000, dtype=np.float64) % 1000  # 160 MB in one worker's memory
        with ufora.remotely.downloadAll():
            total = sum(x * x for x in big)  # compiled; the other worker reads windows of it
        assert total == 20_000 * sum(k * k for k in range(1000))
        wait_for(lambda: any(m.get("foreign_partitions", 0) for m in status(manager, pki)["members"]),
                 "a worker to report partitions of the other's block")  # counters come with heartbeats
        downloaded = big.toLocal().result()  # from the worker's data channel to the manager, then https
        with ufora.remotely.downloadAll():
            halves = [x * 0.5 for x in range(2_000_000)]  # 16 MB: straight from the worker, over TLS
        assert halves == [x * 0.5 for x in range(2_000_000)]
        assert [where.tls for where in taken] == [True]
    assert np.array_equal(downloaded, np.arange(20_000_000, dtype=np.float64) % 1000)
    for service in (manager, *workers):
        assert "refused a connection" not in service.log and "UFORA_TLS" not in service.log, service.log[-2000:]


@pytest.mark.parametrize("worker_trusts,says", [
    ("stranger", "presented a certificate that UFORA_TLS_CA does not trust"),
    ("", "it serves TLS only (UFORA_TLS_CERT is set there): set UFORA_TLS_CA here"),
])
def test_a_worker_that_does_not_trust_the_cluster_s_authority_never_joins_and_says_why(start_service, pki,
                                                                                         worker_trusts, says):
    manager = start_service({**MANAGER_ONLY, **tls_env(pki)})
    worker = start_service({**joining(manager, 1), **tls_env(pki, worker_trusts)}, wait_ready=False)
    wait_for(lambda: says in worker.log, "the worker to say why it cannot join", timeout=60)
    assert status(manager, pki)["workers"] == 0
    assert worker.process.poll() is None and manager.process.poll() is None
    if not worker_trusts:
        assert "UFORA_TLS_CERT is set but UFORA_TLS_CA is not" in worker.log  # warned at start
    else:
        assert "it does not trust this service's certificate" in manager.log


@pytest.mark.parametrize("secret", [True, False], ids=["with a secret", "open"])
def test_a_plain_worker_is_refused_by_a_tls_manager_once_with_a_clear_line(start_service, pki, secret):
    opened = {} if secret else {"UFORA_CLUSTER_SECRET": ""}
    manager = start_service({**MANAGER_ONLY, **tls_env(pki), **opened})
    worker = start_service({**joining(manager, 1), **opened}, wait_ready=False)
    said = "it serves TLS only (UFORA_TLS_CERT is set there): set UFORA_TLS_CA here"
    wait_for(lambda: worker.log.count(said) >= 2, "the worker to be refused twice and say why", timeout=60)
    assert manager.log.count("refused a connection from 127.0.0.1: this service serves TLS only "
                             "(UFORA_TLS_CERT is set here) and it did not start TLS: set UFORA_TLS_CA there") == 1
    assert status(manager, pki)["workers"] == 0


def test_a_tls_worker_is_refused_by_a_plain_manager_and_says_what_to_set(start_service, pki):
    manager = start_service(MANAGER_ONLY)
    worker = start_service({**joining(manager, 1), **tls_env(pki)}, wait_ready=False)
    wait_for(lambda: "ended the TLS handshake" in worker.log, "the worker to say why it cannot join", timeout=60)
    assert "it serves no TLS (set UFORA_TLS_CERT and UFORA_TLS_KEY there, or unset UFORA_TLS_CA here)" in worker.log
    assert manager.log.count("it started TLS (UFORA_TLS_CA is set there), which this service does not serve") == 1
    assert status(manager, pki)["workers"] == 0


def test_the_embedded_cluster_runs_while_the_client_trusts_a_remote_manager_s_authority(pki, monkeypatch):
    monkeypatch.setenv("UFORA_TLS_CA", pki["ca"])  # the client's, for https: the embedded service must not dial TLS
    with pyfora.connect(progress=False) as ufora:
        with ufora.remotely.downloadAll():
            total = sum(range(10))
    assert total == 45


def test_a_certificate_that_lists_addresses_must_list_the_one_dialled():
    certificate = {"subjectAltName": (("DNS", "worker-1"), ("IP Address", "10.0.0.7"))}
    assert tls.address_mismatch(certificate, "10.0.0.7") is None
    assert tls.address_mismatch(certificate, "10.0.0.8") == "its certificate is for 10.0.0.7, not 10.0.0.8"
    assert tls.address_mismatch({"subjectAltName": (("DNS", "worker-1"),)}, "10.0.0.8") is None


@pytest.mark.parametrize("ca,fault", [("/no/such/file", "no such file"), ("/etc/hostname", "not a PEM file")])
def test_an_authority_that_cannot_be_read_is_a_one_line_error_naming_it(ca, fault):
    with pytest.raises(config.ConfigError, match=f"^UFORA_TLS_CA=.*{fault}"):
        config.parse({"UFORA_NO_WORKER": "1", "UFORA_TLS_CA": ca})
