"""logging in a block on the cluster goes to the client's own loggers and handlers, at the
client's levels (engine.log_records): a user's trial found every record of a logger with a
handler of its own lost, and WARNING ones printed bare on stderr."""
import logging

import pytest


class ListHandler(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []
        self.records = []
        self.setFormatter(logging.Formatter("%(levelname)s:%(name)s:%(funcName)s:%(message)s"))

    def emit(self, record):
        self.records.append(record)
        self.lines.append(self.format(record))


@pytest.fixture
def etl_logger():
    """A logger with a handler of its own that does not propagate, at INFO, as a script sets one."""
    logger = logging.getLogger("tests.etl")
    handler = ListHandler()
    logger.addHandler(handler)
    logger.propagate, logger.level = False, logging.INFO
    yield logger, handler
    logger.removeHandler(handler)
    logger.propagate, logger.level = True, logging.NOTSET


def load_rows(logger, n):
    total = 0
    for i in range(n):
        if i % 1000 == 0:
            logger.info("loaded %d rows", i)
        total += i
    logger.debug("not at this level")
    logger.warning("done: %s", total)
    return total


def test_records_reach_the_clients_handler_at_its_levels_and_nothing_else_is_printed(ufora, etl_logger, capfd):
    logger, handler = etl_logger
    with ufora.remotely.downloadAll().onCluster():
        total = load_rows(logger, 3000)
    assert total == sum(range(3000))
    assert handler.lines == ["INFO:tests.etl:load_rows:loaded 0 rows", "INFO:tests.etl:load_rows:loaded 1000 rows",
                             "INFO:tests.etl:load_rows:loaded 2000 rows", f"WARNING:tests.etl:load_rows:done: {total}"]
    assert handler.records[0].args is None and handler.records[0].lineno == load_rows.__code__.co_firstlineno + 4
    out, err = capfd.readouterr()
    assert "loaded" not in out + err and "done" not in out + err


def test_an_unconfigured_client_prints_warnings_bare_as_cpython_and_drops_info(ufora, capfd, monkeypatch):
    monkeypatch.setattr(logging.root, "handlers", [])  # (pytest's own capture is a handler)
    with ufora.remotely.downloadAll().onCluster():
        logging.getLogger("tests.bare").warning("careful: %d", 7)
        logging.getLogger("tests.bare").info("not shown")
    out, err = capfd.readouterr()
    assert err.count("careful: 7\n") == 1 and "not shown" not in out + err


def test_an_exception_logged_carries_its_traceback(ufora, etl_logger):
    logger, handler = etl_logger
    with ufora.remotely.downloadAll().onCluster():
        try:
            1 / 0
        except ZeroDivisionError:
            logger.exception("could not divide")
    assert handler.lines[0].startswith("ERROR:tests.etl:") and "could not divide" in handler.lines[0]
    assert "ZeroDivisionError: division by zero" in handler.lines[0]


def test_a_level_the_block_sets_is_the_clients_after_it(ufora, etl_logger):
    logger, handler = etl_logger
    with ufora.remotely.downloadAll().onCluster():
        logging.getLogger("tests.etl").setLevel(logging.DEBUG)
        logging.getLogger("tests.etl").debug("now shown")
    assert logger.level == logging.DEBUG
    assert len(handler.lines) == 1 and handler.lines[0].startswith("DEBUG:tests.etl:") and \
        handler.lines[0].endswith(":now shown")


class Echo(logging.Handler):
    def emit(self, record):
        print("LOG", record.getMessage())


def test_records_come_in_order_with_what_the_block_prints(ufora, capsys):
    logger = logging.getLogger("tests.echo")
    echo = Echo()
    logger.addHandler(echo)
    try:
        with ufora.remotely.downloadAll().onCluster():
            print("before")
            logger.warning("between")
            print("after")
    finally:
        logger.removeHandler(echo)
    assert capsys.readouterr().out == "before\nLOG between\nafter\n"


def test_the_block_runs_here_with_the_same_records(ufora, etl_logger):
    """The same block where it runs here (no parallel shape): CPython's own logging."""
    logger, handler = etl_logger
    with ufora.remotely.downloadAll():
        total = load_rows(logger, 2000)
    assert handler.lines[-1] == f"WARNING:tests.etl:load_rows:done: {total}" and len(handler.lines) == 3


def test_the_engines_own_loggers_are_not_the_blocks(monkeypatch):
    from ufora.engine import log_records
    monkeypatch.setattr(logging.root, "handlers", [])
    sent = []
    with log_records.sent(sent.append):
        logging.getLogger("numba.core.ssa").warning("the engine's")
        logging.getLogger("tests.mine").warning("mine")
    assert len(sent) == 1 and '"msg": "mine"' in sent[0]


def test_fields_a_call_adds_reach_the_clients_formatter(ufora, etl_logger):
    logger, handler = etl_logger
    handler.setFormatter(logging.Formatter("%(user)s|%(message)s"))
    with ufora.remotely.downloadAll().onCluster():
        logger.info("hello", extra={"user": "bob"})
        logging.LoggerAdapter(logger, {"user": "ann"}).warning("adapted")
    assert handler.lines == ["bob|hello", "ann|adapted"]


def test_module_level_calls_reach_a_configured_clients_root(ufora, monkeypatch, capfd):
    """A review: the cluster's root had no handlers, so ``logging.info()`` configured one there
    and printed bare, where the client's configured root takes the record."""
    root_handler = ListHandler()
    monkeypatch.setattr(logging.root, "handlers", [root_handler])
    monkeypatch.setattr(logging.root, "level", logging.INFO)
    logging.root.manager._clear_cache()
    try:
        with ufora.remotely.downloadAll().onCluster():
            logging.info("root info %d", 1)
            logging.getLogger("tests.child").warning("child")
    finally:
        logging.root.manager._clear_cache()
    assert [line.split(":")[-1] for line in root_handler.lines] == ["root info 1", "child"]
    assert "root info" not in capfd.readouterr().err


def test_a_message_that_cannot_be_formatted_fails_where_cpython_fails(ufora, monkeypatch, capfd):
    monkeypatch.setattr(logging.root, "handlers", [])
    logger = logging.getLogger("tests.badformat")
    with ufora.remotely.downloadAll().onCluster():
        logger.info("n=%d", "x")  # below the last resort's level: nothing, as at home
        logger.warning("n=%d", "y")  # the last resort formats it: logging's own error report
    err = capfd.readouterr().err
    assert err.count("--- Logging error ---") == 1 and "'y'" in err and "'x'" not in err
