"""Programs from a user's trial (2026-12-07, the third) whose block leaves a generator in a
variable: the whole block failed ("cannot be sent back to the client"), where CPython simply
ends it with the generator bound. Each block also sums a range, which sends it to the cluster."""
import inspect

N = 300_000


def _described(generator, state=True):
    """What a user can tell of ``generator``. Not the state of one half consumed: it arrives as a
    new generator over the iterator left where it was (GEN_CREATED, where CPython's is
    GEN_SUSPENDED), which gives the same items."""
    described = {"type": type(generator).__name__, "qualname": generator.__qualname__}
    if state:
        described["state"] = inspect.getgeneratorstate(generator)
    return {**described, "rest": list(generator), "after": next(generator, "ended")}


def prog_a_generator_expression_consumed_by_sum(ufora):
    values = [i % 11 for i in range(1000)]
    with ufora.remotely.downloadAll():
        squares = (v * v for v in values)
        total = sum(squares)
        check = sum(i * i for i in range(N))
    return {"total": total, "check": check, "squares": _described(squares)}


def prog_a_generator_expression_not_started(ufora):
    with ufora.remotely.downloadAll():
        check = sum(i % 7 for i in range(N))
        pending = (i * 3 for i in range(10) if i % 2)
    return {"check": check, "pending": _described(pending)}


def prog_a_generator_expression_half_consumed(ufora):
    words = ["alpha", "beta", "gamma", "delta", "epsilon"]
    with ufora.remotely.downloadAll():
        upper = (w.upper() for w in words)
        first = next(upper)
        second = next(upper)
        check = sum(i % 5 for i in range(N))
    words.append("zeta")  # the list the generator still iterates, as in CPython
    return {"first": first, "second": second, "check": check, "upper": _described(upper, state=False)}


def _countdown(n):
    while n > 0:
        yield n
        n -= 1


def prog_a_generator_function_run_to_its_end(ufora):
    with ufora.remotely.downloadAll():
        ticks = _countdown(5)
        seen = list(ticks)
        check = sum(i % 3 for i in range(N))
    return {"seen": seen, "check": check, "ticks": _described(ticks)}


def prog_a_generator_closed_early(ufora):
    with ufora.remotely.downloadAll():
        ticks = _countdown(100)
        head = [next(ticks) for _ in range(3)]
        ticks.close()
        check = sum(i % 13 for i in range(N))
    return {"head": head, "check": check, "ticks": _described(ticks)}


def prog_a_started_generator_function_left_in_a_variable(ufora):
    with ufora.remotely.downloadAll():
        ticks = _countdown(5)
        head = next(ticks)
        check = sum(i % 3 for i in range(N))
    return {"head": head, "check": check, "ticks": _described(ticks)}
