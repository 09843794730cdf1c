"""The release of this distribution (``engine``, ``net``, ``pyfora`` ship together): the one place
it is written. ``setup.py`` reads it as text, ``pyfora.__version__`` and ``ufora-service
--version`` import it. A leaf module: importing it costs nothing."""
__version__ = "0.1.0"
