"""The manager's client port over TLS (issues 14 and 15): ``https://`` with a certificate the
client trusts (``tls_ca``) runs blocks, uploads and downloads; a certificate it does not trust,
or http to a TLS port, is a ConnectionError; a certificate that is not one stops the service
with a line naming the variable."""
import json
import ssl
import subprocess
import urllib.request

import numpy as np
import pytest

import pyfora
from tests.conftest import one_host


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 and its key, made by the openssl command."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return str(cert), str(key)


@pytest.fixture
def tls_service(start_service, certificate):
    cert, key = certificate
    return start_service({**one_host(1), "UFORA_TLS_CERT": cert, "UFORA_TLS_KEY": key, "UFORA_TLS_CA": cert})


def test_https_runs_blocks_with_uploads_and_downloads(tls_service, certificate):
    assert tls_service.url.startswith("https://")
    with pyfora.connect(tls_service.url, tls_ca=certificate[0], progress=False) as ufora:
        data = np.arange(2_000_000, dtype=np.float64)  # 16 MB: uploaded over https
        with ufora.remotely.downloadAll():
            doubled = data * 2  # 16 MB: downloaded over https
            total = sum(range(10))
        assert total == 45
        assert np.array_equal(doubled, data * 2)
    status = json.load(urllib.request.urlopen(tls_service.url + "/api/status", timeout=10,
                                               context=ssl.create_default_context(cafile=certificate[0])))
    assert status["workers"] == 1


def test_a_certificate_the_client_does_not_trust_is_refused(tls_service):
    with pytest.raises(pyfora.ConnectionError, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        pyfora.connect(tls_service.url, timeout=10, progress=False)


def test_http_to_a_tls_port_is_a_connection_error(tls_service):
    with pytest.raises(pyfora.ConnectionError, match="cannot connect"):
        pyfora.connect(tls_service.url.replace("https://", "http://"), timeout=5, progress=False)


@pytest.mark.parametrize("which", ["UFORA_TLS_CERT", "UFORA_TLS_KEY"])
def test_a_file_that_is_not_a_certificate_stops_the_service_naming_it(start_service, certificate, tmp_path, which):
    cert, key = certificate
    bad = tmp_path / "not.pem"
    bad.write_text("not a certificate\n")
    env = {**one_host(1), "UFORA_TLS_CERT": cert, "UFORA_TLS_KEY": key, which: str(bad)}
    service = start_service(env, wait_ready=False)
    assert service.process.wait(timeout=60) == 2
    assert which in service.log and "not a PEM certificate" in service.log
