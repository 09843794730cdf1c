"""ufora: the cluster's one installed name. ``ufora.engine`` computes, ``ufora.net`` moves bytes
and schedules; ``pyfora``, the client's public name, is installed beside it.

The sources keep the design's top-level folders ``engine/`` and ``net/``. An installed wheel
holds them as ``ufora/engine`` and ``ufora/net`` (setup.py's ``package_dir``); in a source
checkout, without installing, the two names are mapped here onto those folders, so that every
import reads ``from ufora.engine ...`` wherever the code runs. Only these two names are mapped:
``ufora.tests`` or a second copy of ``pyfora`` cannot be imported through ``ufora``."""
import importlib.util
import os
import sys

_SUBPACKAGES = ("engine", "net")


def _map_source_folders() -> None:
    """In a source checkout (engine/ beside ufora/, not inside it), load ``ufora.engine`` and
    ``ufora.net`` from the checkout's folders; their modules are then found through their own
    ``__path__``. Their ``__init__`` files hold only docstrings, so loading both is free."""
    here = os.path.dirname(os.path.abspath(__file__))
    checkout = os.path.dirname(here)
    for name in _SUBPACKAGES:
        folder = os.path.join(checkout, name)
        qualified = f"{__name__}.{name}"
        if os.path.isdir(os.path.join(here, name)) or qualified in sys.modules:
            continue
        spec = importlib.util.spec_from_file_location(qualified, os.path.join(folder, "__init__.py"),
                                                      submodule_search_locations=[folder])
        assert spec is not None and spec.loader is not None, f"ufora: {folder} is not a package"
        module = importlib.util.module_from_spec(spec)
        sys.modules[qualified] = module
        spec.loader.exec_module(module)
        globals()[name] = module


_map_source_folders()
