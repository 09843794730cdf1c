"""UFORA_PRELOAD: modules the compute processes import before they fork, so that no block pays
their import in each process (pandas: 0.3-0.4 s)."""
import sys

import pytest

import pyfora
from tests.conftest import one_host
from ufora.net.config import ConfigError, parse

ALREADY = "xml.dom.minidom" not in sys.modules  # a module nothing here imports


def test_module_names_are_read_and_checked():
    assert parse({"UFORA_PRELOAD": " pandas, scipy.stats ,"}, lambda name: "127.0.0.1").preload == \
        ("pandas", "scipy.stats")
    assert parse({}, lambda name: "127.0.0.1").preload == ()
    with pytest.raises(ConfigError, match="'os; rm' is not a module name"):
        parse({"UFORA_PRELOAD": "os; rm"}, lambda name: "127.0.0.1")


def loaded_before_the_block() -> bool:
    return "xml.dom.minidom" in sys.modules


@pytest.mark.skipif(not ALREADY, reason="xml.dom.minidom is imported in this process already")
def test_a_compute_process_has_the_preloaded_modules_before_its_first_block(start_service):
    service = start_service({**one_host(2), "UFORA_PRELOAD": "xml.dom.minidom,no_such_module_here"})
    with pyfora.connect(service.url, progress=False, serial_here=False) as ufora:
        with ufora.remotely.downloadAll():
            loaded = loaded_before_the_block()
    assert loaded
    assert "UFORA_PRELOAD: cannot import no_such_module_here" in service.log
