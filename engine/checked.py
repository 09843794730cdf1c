"""Checked arithmetic for compiled user functions: CPython's number, or an error that sends the
partition back to CPython; never a different number.

CPython's ints are unbounded; numba's are int64, so ``x ** 40`` or ``a * b`` with large values
would silently wrap in a compiled kernel. Every function the kernel builder compiles
(``engine.kernels.jit_clone``) goes through ``CheckedCompiler``: before type inference, a pass
replaces each ``+ - * ** << >> //`` (and their augmented forms), unary ``-`` and ``abs`` of the
function's IR with a call to a helper of this module. For signed integers (or bools) the
helper computes the int64 result with LLVM's overflow-reporting intrinsics and raises
OverflowError when it would not be exact; for any other types it is the plain operator, so floats, arrays and strings
behave as before. ``int ** negative`` raises too: CPython gives a float there, numba 0.

Floats are checked where numba's answer is not CPython's:

* ``float ** number`` is computed as C's ``pow`` of two doubles, as CPython does (numba multiplies
  for an integer exponent: ``x ** 3`` differed in the last bit for a quarter of random floats); a
  result that is not finite from finite operands (CPython: OverflowError, ZeroDivisionError for
  ``0.0 ** -1``, a complex number for ``(-8.0) ** (1/3)``) raises;
* ``int / int`` with an operand beyond 2**53 raises (CPython divides exactly, then rounds once);
* the ``math`` module's functions raise where CPython's raise (``math.sqrt(-1)``, ``math.log(0)``,
  ``math.exp(1000)``, ``math.sin(inf)``): numba returns nan or inf there. The rule is CPython's
  own (``math_1`` in ``mathmodule.c``): a nan from operands that are not nan, or an infinity
  from finite operands, is an error; ``floor``, ``ceil``, ``trunc``, ``int()`` and one-argument
  ``round()`` of a float that is not finite or beyond int64 raise too;
* ``round(x, n)`` is not compiled at all: numba rounds the binary value (``round(0.015, 2)`` is
  0.02 there, 0.01 in CPython, which rounds the exact decimal value).

After type inference a second pass refuses (the function is not compiled, its shape runs in
CPython) what numba would type differently from CPython: a value that is an int (or a bool) on
one path and a float on another (``x / 2 if x % 2 else x // 2``: numba makes every element a
float), and numpy's narrower scalars (float32, int8-int32, unsigned), whose arithmetic numba
widens where numpy keeps their width; and what numba computes otherwise: numpy's reductions of
an array (``row.sum()``, ``mean``, ``std``: numpy adds pairwise or eight at a time, numba in
order), ``math.gamma`` (numba's own code), ``min``/``max`` of a numpy scalar and a Python number
(CPython keeps the winner's type), arithmetic on numpy bools (numpy's ``+`` is a logical or).

A compiled partition that raises is recomputed in CPython (``engine.tasks``), which gives the
exact answer, or CPython's own exception: a check costs a branch per operation.

Not covered: arithmetic inside numba's own library code other than the above (``sum`` of a list,
``divmod``, other numpy functions).
"""
from __future__ import annotations

import collections
import contextvars
import functools
import inspect
import math
import operator
import types as types_module
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Optional, Tuple

import numpy

# The operators checked, by the function numba's IR names them with; augmented assignments
# (``x += y``) have their own helper, whose non-integer form keeps the in-place update (arrays).
_BINARY = {operator.add: "add", operator.sub: "sub", operator.mul: "mul", operator.pow: "pow",
           operator.lshift: "lshift", operator.rshift: "rshift", operator.floordiv: "floordiv"}
_INPLACE = {operator.iadd: "add", operator.isub: "sub", operator.imul: "mul", operator.ipow: "pow",
            operator.ilshift: "lshift", operator.irshift: "rshift", operator.ifloordiv: "floordiv"}
_SYMBOLS = {"add": "+", "sub": "-", "mul": "*", "pow": "**", "lshift": "<<", "rshift": ">>", "floordiv": "//",
            "truediv": "/"}
_BINARY[operator.truediv] = "truediv"
_INPLACE[operator.itruediv] = "truediv"
# Comparisons of an int and a float: numba converts the int to a double, CPython compares exactly
# (2**53 + 1 == float(2**53 + 1) is False there); checked where the int is beyond 2**53
_COMPARE = {operator.lt: "lt", operator.le: "le", operator.gt: "gt", operator.ge: "ge", operator.eq: "eq",
            operator.ne: "ne"}
_SYMBOLS.update(lt="<", le="<=", gt=">", ge=">=", eq="==", ne="!=")
_INT64_MIN = -2**63  # the one int64 whose negation (and abs, and // -1) does not fit
_WRAPS = "integer result does not fit in int64"
_NOT_CPYTHONS = "numba's float result is not CPython's here"
_EXACT_FLOAT_INT = 2.0 ** 53  # ints up to this convert to float exactly
_INT64_FLOAT_BOUND = 2.0 ** 63

# The twin's sum accumulator (engine.rewriter): an int start made a float is checked at run time
# (kernels._sum_checked refuses an empty float sum, which CPython gives as the int start)
_GUARDED_ACCUMULATOR = "__ufora_total"
# math functions of floats checked by CPython's rule (a nan or an infinity it would not give)
_MATH_FLOAT = ("sqrt", "exp", "expm1", "log", "log2", "log10", "log1p", "pow", "sin", "cos", "tan",
               "asin", "acos", "atan", "atan2", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh",
               "fmod", "erf", "erfc", "ldexp", "copysign", "degrees",
               "radians", "exp2", "cbrt")
# math functions that give CPython an int from a float
_MATH_TO_INT = ("floor", "ceil", "trunc")


def _stub(name: str) -> Callable:
    def stub(*operands):
        """Typed by numba only (``_helpers``)."""
        raise NotImplementedError(name)
    stub.__name__ = stub.__qualname__ = f"checked_{name}"
    return stub


@functools.lru_cache(maxsize=None)
def _intrinsics() -> Dict[str, Callable]:
    """``(result, overflowed)`` of int64 add/sub/mul, from LLVM's ``*.with.overflow`` intrinsics."""
    from numba.core import cgutils, types
    from numba.extending import intrinsic

    def with_overflow(llvm_name: str) -> Callable:
        @intrinsic
        def operation(typingctx, a, b):
            signature = types.Tuple((types.int64, types.boolean))(types.int64, types.int64)

            def codegen(context, builder, sig, args):
                pair = getattr(builder, f"{llvm_name}_with_overflow")(*args)
                value, overflowed = builder.extract_value(pair, 0), builder.extract_value(pair, 1)
                return cgutils.pack_struct(builder, (value, overflowed))
            return signature, codegen
        return operation

    return {"add": with_overflow("sadd"), "sub": with_overflow("ssub"), "mul": with_overflow("smul")}


def _exact_forms(intrinsics: Dict[str, Callable]) -> Dict[str, Callable]:
    """The helpers' int64 forms: the exact result, or OverflowError."""
    import numba
    import numpy as np

    def arithmetic(name: str) -> Callable:
        operation = intrinsics[name]

        def exact(a, b):
            value, overflowed = operation(np.int64(a), np.int64(b))
            if overflowed:
                raise OverflowError(_WRAPS)
            return value
        return exact

    multiply = numba.njit(arithmetic("mul"))

    def power(a, b):
        if b < 0:
            raise OverflowError("int ** negative is a float in CPython")
        result, base = np.int64(1), np.int64(a)
        while b:
            if b & 1:
                result = multiply(result, base)
            b >>= 1
            if b:
                base = multiply(base, base)
        return result

    def shift(a, b):
        if b < 0:
            raise ValueError("negative shift count")
        if a == 0:
            return np.int64(0)
        if b >= 63 or (np.int64(a) << b) >> b != a:
            raise OverflowError(_WRAPS)
        return np.int64(a) << b

    def right_shift(a, b):  # LLVM's shift by 64 or more is undefined; CPython's gives the sign
        if b < 0:
            raise ValueError("negative shift count")
        if b >= 63:
            return np.int64(-1) if a < 0 else np.int64(0)
        return np.int64(a) >> b

    def floor_divide(a, b):
        if b == -1 and a == _INT64_MIN:
            raise OverflowError(_WRAPS)
        return a // b

    def true_divide(a, b):
        if abs(float(a)) > _EXACT_FLOAT_INT or abs(float(b)) > _EXACT_FLOAT_INT:
            raise OverflowError(_NOT_CPYTHONS)
        return a / b

    return {"add": arithmetic("add"), "sub": arithmetic("sub"), "mul": arithmetic("mul"), "pow": power,
            "lshift": shift, "rshift": right_shift, "floordiv": floor_divide, "truediv": true_divide}


@functools.lru_cache(maxsize=None)
def _c_pow() -> Callable:
    """The C library's ``pow``, the function CPython's ``float ** float`` calls, through ctypes:
    numba calls it by address, so LLVM cannot make ``x ** 2.0`` a multiplication or ``x ** 0.5``
    a square root, which round differently from it in the last bit."""
    import ctypes
    import ctypes.util

    function = ctypes.CDLL(ctypes.util.find_library("m")).pow
    function.restype, function.argtypes = ctypes.c_double, (ctypes.c_double, ctypes.c_double)
    return function


def _float_power_form() -> Callable:
    c_pow = _c_pow()

    def float_power(a, b):
        """``a ** b`` with a float among them, as CPython computes it: C's pow of two doubles."""
        base, exponent = float(a), float(b)
        result = c_pow(base, exponent)
        if not math.isfinite(result) and math.isfinite(base) and math.isfinite(exponent):
            raise OverflowError(_NOT_CPYTHONS)
        return result
    return float_power


def _plain(symbol: str, inplace: bool) -> Callable:
    """The operator itself, for operands that are not both signed integers."""
    namespace: Dict[str, Any] = {}
    body = f"a {symbol}= b\n    return a" if inplace else f"return a {symbol} b"
    exec(f"def plain(a, b):\n    {body}", namespace)
    return namespace["plain"]


def _compare_forms(symbol: str) -> Tuple[Callable, Callable]:
    """The comparison of an int (first or second) and a float: exact as numba makes it (both
    doubles) while the int is within 2**53, else an error that sends the partition to CPython."""
    namespace: Dict[str, Any] = {"bound": int(_EXACT_FLOAT_INT), "message": _NOT_CPYTHONS}
    exec(f"def int_first(a, b):\n    if a > bound or a < -bound:\n        raise OverflowError(message)\n"
         f"    return a {symbol} b\n"
         f"def int_second(a, b):\n    if b > bound or b < -bound:\n        raise OverflowError(message)\n"
         f"    return a {symbol} b\n", namespace)
    return namespace["int_first"], namespace["int_second"]


def _negate(a):
    if a == _INT64_MIN:
        raise OverflowError(_WRAPS)
    return -a


def _absolute(a):
    if a == _INT64_MIN:
        raise OverflowError(_WRAPS)
    return abs(a)


def _math_form(function: Callable, arity: int) -> Callable:
    """``function`` of floats with CPython's errors (``math_1``/``math_2`` in mathmodule.c): a
    nan from operands that are not nan, or an infinity from finite operands, raises. Both forms
    take the second operand numba's overload signature needs."""
    if arity == 1:
        def checked_1(a, b=None):
            result = function(a)
            if (math.isnan(result) and not math.isnan(a)) or (math.isinf(result) and math.isfinite(a)):
                raise ValueError(_NOT_CPYTHONS)
            return result
        return checked_1

    def checked_2(a, b=None):
        result = function(a, b)
        if math.isnan(result) and not (math.isnan(a) or math.isnan(b)) or (
                math.isinf(result) and math.isfinite(a) and math.isfinite(b)):
            raise ValueError(_NOT_CPYTHONS)
        return result
    return checked_2


def _to_int_form(function: Callable) -> Callable:
    """``function`` (floor, ceil, trunc, int, round) of a float, which CPython makes an int of
    any size: refused when it is not finite or leaves int64."""
    def checked(a, b=None):
        if not (abs(a) < _INT64_FLOAT_BOUND):  # also nan
            raise OverflowError(_NOT_CPYTHONS)
        return function(a)
    return checked


# numba counts a range's passes in int64 (``stop - start``...): past this, a range of CPython's
# made none there (range(-5 * 10**18, 5 * 10**18, 10**18) gave 0 passes, where CPython makes 10)
_RANGE_BOUND = 2 ** 61
_RANGE_TOO_WIDE = "a range bound beyond 2**61, whose passes numba would miscount"


def _given(numba_type) -> bool:
    """Whether a typer's optional argument was passed (not left out, not None)."""
    from numba.core import types

    return numba_type is not None and not isinstance(numba_type, (types.Omitted, types.NoneType))


def _range_typer() -> Callable:
    """numba's typing function for ``range`` of signed ints (or bools): the range, or
    OverflowError where a bound is beyond ``_RANGE_BOUND`` (the partition runs in CPython)."""
    from numba.core import types

    def integral(t) -> bool:
        return isinstance(t, types.Boolean) or (isinstance(t, types.Integer) and t.signed)

    bound, message = _RANGE_BOUND, _RANGE_TOO_WIDE  # constants, as numba reads them

    def stop_only(a, b=None, c=None):
        if a > bound or a < -bound:
            raise OverflowError(message)
        return range(a)

    def start_stop(a, b=None, c=None):
        if a > bound or a < -bound or b > bound or b < -bound:
            raise OverflowError(message)
        return range(a, b)

    def stepped(a, b=None, c=None):
        if a > bound or a < -bound or b > bound or b < -bound or c > bound or c < -bound:
            raise OverflowError(message)
        return range(a, b, c)

    def typer(a, b=None, c=None):
        arguments = [t for t in (a, b, c) if _given(t)]
        if not all(integral(t) for t in arguments) or (_given(c) and not _given(b)):
            return None
        return (stop_only, start_stop, stepped)[len(arguments) - 1]
    return typer


def _replaced_callables() -> Dict[Any, Tuple[str, Callable]]:
    """The callables a compiled function must not call as numba has them: (helper name, numba
    typing function choosing the checked form for the argument types, None to refuse)."""
    from numba.core import types

    def real(t) -> bool:
        return isinstance(t, (types.Integer, types.Boolean, types.Float))

    def floating(t) -> bool:
        return isinstance(t, types.Float)

    def math_typer(function: Callable) -> Callable:
        def typer(a, b=None):
            if real(a) and (not _given(b) or real(b)):
                return _math_form(function, 2 if _given(b) else 1)
            return None
        return typer

    def to_int_typer(function: Callable, plain: Callable) -> Callable:
        def typer(a, b=None):
            if _given(b):
                return None  # int(s, base), round(x, n): not compiled
            if floating(a):
                return _to_int_form(function)
            return plain if isinstance(a, (types.Integer, types.Boolean)) else None
        return typer

    table: Dict[Any, Tuple[str, Callable]] = {}
    for name in _MATH_FLOAT:
        if hasattr(math, name):
            table[getattr(math, name)] = (f"math_{name}", math_typer(getattr(math, name)))
    for name in _MATH_TO_INT:
        function = getattr(math, name)
        table[function] = (f"math_{name}", to_int_typer(function, lambda a, b=None: int(a)))  # a bool: its int
    # CPython computes lgamma and hypot with code of its own (mathmodule.c's m_lgamma, and its
    # own hypot since 3.10), numba with the C library's, which differs in the last bit (hypot: for
    # 70 of 20,000 items, a user's trial): refused
    table[math.lgamma] = ("math_lgamma", lambda a, b=None: None)
    table[math.hypot] = ("math_hypot", lambda a, b=None: None)
    table[range] = ("range", _range_typer())
    table[int] = ("int", to_int_typer(int, lambda a, b=None: int(a)))
    # numba converts a float beyond int64 (or nan) to INT64_MIN; numpy raises
    table[numpy.int64] = ("numpy_int64", to_int_typer(numpy.int64, lambda a, b=None: numpy.int64(a)))
    table[round] = ("round", to_int_typer(round, lambda a, b=None: int(a)))

    return table


@functools.lru_cache(maxsize=None)
def _helpers() -> Dict[Any, Callable]:
    """The helper that replaces each operator (by IR function) or callable (by value),
    overloaded for numba; built on first use since it imports numba."""
    from numba.core import types
    from numba.extending import overload

    def signed(t) -> bool:
        return isinstance(t, types.Boolean) or (isinstance(t, types.Integer) and t.signed)

    def real_with_float(a, b) -> bool:
        kinds = (types.Integer, types.Boolean, types.Float)
        return isinstance(a, kinds) and isinstance(b, kinds) and (
            isinstance(a, types.Float) or isinstance(b, types.Float))

    def chooser(exact: Callable, plain: Callable, floating: Optional[Callable] = None,
                unary: bool = False) -> Callable:
        """numba's typing function: the exact form for signed integers, the float form (if
        any) for a float and a number, else the plain one."""
        if unary:
            return lambda a: exact if signed(a) else plain

        def choose(a, b):
            if signed(a) and signed(b):
                return exact
            return floating if floating is not None and real_with_float(a, b) else plain
        return choose

    exact = _exact_forms(_intrinsics())
    float_power = _float_power_form()
    helpers: Dict[Any, Callable] = {}
    for table, inplace in ((_BINARY, False), (_INPLACE, True)):
        for function, name in table.items():
            helpers[function] = _stub(name)
            floating = float_power if name == "pow" else None
            overload(helpers[function])(chooser(exact[name], _plain(_SYMBOLS[name], inplace), floating))
    def comparison_chooser(name: str) -> Callable:
        int_first, int_second = _compare_forms(_SYMBOLS[name])
        plain = _plain(_SYMBOLS[name], False)

        def choose(a, b):
            if isinstance(a, types.Integer) and isinstance(b, types.Float):
                return int_first
            if isinstance(a, types.Float) and isinstance(b, types.Integer):
                return int_second
            return plain
        return choose

    for function, name in _COMPARE.items():
        helpers[function] = _stub(name)
        overload(helpers[function])(comparison_chooser(name))
    for function, name, exact_form in ((operator.neg, "neg", _negate), (abs, "abs", _absolute)):
        helpers[function] = _stub(name)
        plain_form = (lambda a: -a) if function is operator.neg else (lambda a: abs(a))
        overload(helpers[function])(chooser(exact_form, plain_form, unary=True))
    for function, (name, typer) in _replaced_callables().items():
        helpers[function] = _stub(name)
        overload(helpers[function])(typer)
    return helpers


def calling(function: Callable) -> Optional[Callable]:
    """A plain function calling ``function`` (a builtin such as ``math.log`` passed as a shape's
    element: ``map(math.log, a)``), for the checked compiler to replace it in; None when
    ``function`` is not one it checks."""
    try:
        if function not in _helpers():
            return None
    except TypeError:  # unhashable
        return None

    namespace = {"function": function}
    exec("def call(*args):\n    return function(*args)", namespace)  # a global, which the pass reads
    return namespace["call"]


def _replacement(func_ir, expression, helpers: Dict[Any, Callable]) -> Optional[Callable]:
    """The helper for a global, a closure value or an attribute of a module (``math.sqrt``)
    that is a callable numba must not call as it has it; None for anything else."""
    value = _replaced_value(func_ir, expression)
    if value is None or isinstance(value, (int, float, str, bool)):
        return None
    if value is pow:  # the builtin, with two arguments: the checked ** (three: not compiled)
        value = operator.pow
    try:
        return helpers.get(value)
    except TypeError:  # unhashable
        return None


def _replaced_value(func_ir, expression) -> Any:
    """The value of a global, a closure value or an attribute of ``math`` or ``numpy``; None
    for anything else."""
    from numba.core import ir

    value = None
    if isinstance(expression, (ir.Global, ir.FreeVar)):
        value = expression.value
    elif isinstance(expression, ir.Expr) and expression.op == "getattr":
        try:
            owner = func_ir.get_definition(expression.value)
        except Exception:  # not a single definition: not a module's attribute
            return None
        if isinstance(owner, (ir.Global, ir.FreeVar)) and (owner.value is math or owner.value is numpy):
            value = getattr(owner.value, expression.attr, None)
    return value


def _only_called(func_ir) -> set:
    """The names of the variables the IR uses only as what a call calls (never passes or keeps)."""
    from numba.core import ir

    uses: collections.Counter = collections.Counter()
    calls: collections.Counter = collections.Counter()
    for block in func_ir.blocks.values():
        for statement in block.body:
            target = statement.target.name if isinstance(statement, ir.Assign) else None
            uses.update(var.name for var in statement.list_vars() if var.name != target)
            if isinstance(statement, ir.Assign) and isinstance(statement.value, ir.Expr) \
                    and statement.value.op == "call":
                calls[statement.value.func.name] += 1
    return {name for name, count in calls.items() if uses[name] == count}


def _check_arithmetic(func_ir) -> bool:
    """Replace, in place, each checked operator of ``func_ir`` with a call to its helper, and
    each checked callable (``abs``, ``round``, ``int``, the ``math`` functions) with its own."""
    from numba.core import ir

    helpers = _helpers()
    changed = False
    only_called = _only_called(func_ir)
    for block in func_ir.blocks.values():
        body = []
        for statement in block.body:
            expression = statement.value if isinstance(statement, ir.Assign) else None
            replacement = _replacement(func_ir, expression, helpers) if expression is not None else None
            if replacement is not None and isinstance(_replaced_value(func_ir, expression), type) \
                    and statement.target.name not in only_called:
                replacement = None  # a type passed as a value (astype(np.int64)): not a conversion
            if replacement is not None:
                statement.value = ir.Global(replacement.__name__, replacement, statement.loc)
                func_ir._definitions[statement.target.name] = [statement.value]
                changed = True
            operands = None
            if isinstance(expression, ir.Expr) and expression.op in ("binop", "inplace_binop"):
                operands = [expression.lhs, expression.rhs]
            elif isinstance(expression, ir.Expr) and expression.op == "unary":
                operands = [expression.value]
            helper = helpers.get(getattr(expression, "fn", None)) if operands else None
            if helper is not None:
                loc = statement.loc
                callee = block.scope.make_temp(loc)
                global_value = ir.Global(helper.__name__, helper, loc)
                body.append(ir.Assign(global_value, callee, loc))
                func_ir._definitions[callee.name] = [global_value]
                statement.value = ir.Expr.call(callee, operands, (), loc)
                func_ir._definitions[statement.target.name] = [statement.value]
                changed = True
            body.append(statement)
        block.body = body
    return changed


def _narrow(numba_type) -> bool:
    """numpy's scalars that numba computes with otherwise than numpy (it widens float32 and the
    small ints where numpy keeps their width)."""
    from numba.core import types

    if isinstance(numba_type, types.Integer):
        return numba_type.bitwidth < 64 or not numba_type.signed
    return isinstance(numba_type, types.Float) and numba_type.bitwidth < 64


# the expressions whose value may be (or hold, or hand out) an object one of their operands holds,
# which numba's alias analysis does not follow: the loop's variable of ``for row in grid``
# (getiter, iternext, pair_first), ``a, b = grid`` (exhaust_iter), ``t = (row, 1)``, a call's
# answer (``r = pick(grid)``)
_HANDING_ON = {"getiter", "iternext", "pair_first", "exhaust_iter", "build_tuple", "build_list", "build_set",
               "call"}


def _follow_aliases(instruction, args, typemap, func_ir, alias_map, arg_aliases) -> None:
    """numba's alias analysis for an assignment, made to follow ``_HANDING_ON`` too. numba's dead
    code elimination drops a store into a value it takes for no one else's (``row[0] = x`` after
    ``for row in grid``, numba issue 7595): the list kept its old items, and the kernel answered a
    different number with no error. Only more aliases are added, so only less code is dropped."""
    from numba.core import ir, ir_utils

    value, target = instruction.value, instruction.target.name
    if not isinstance(value, ir.Expr) or value.op not in _HANDING_ON or ir_utils.is_immutable_type(target, typemap):
        return
    operands = list(value.args) if value.op == "call" else list(value.items) if value.op.startswith("build_") else [
        value.value]
    for operand in operands:
        if isinstance(operand, ir.Var) and not ir_utils.is_immutable_type(operand.name, typemap):
            ir_utils._add_alias(target, operand.name, alias_map, arg_aliases)


def _register_alias_rules() -> None:
    """Make numba's alias analysis follow ``_HANDING_ON`` (``_follow_aliases``) in this process."""
    from numba.core import ir, ir_utils

    ir_utils.alias_analysis_extensions[ir.Assign] = _follow_aliases


def _unified(source, target) -> bool:
    """Whether numba made a value of type ``source`` into ``target`` where CPython keeps its
    type: an int or a bool that becomes a float, a bool that becomes an int; in a tuple too,
    item by item."""
    from numba.core import types

    if isinstance(target, types.BaseTuple) and isinstance(source, types.BaseTuple):
        return len(source) == len(target) and any(_unified(s, t) for s, t in zip(source, target))
    if isinstance(target, types.Float):
        return isinstance(source, (types.Integer, types.Boolean))
    return isinstance(target, types.Integer) and isinstance(source, types.Boolean)


def _mixed_call_or_container(func_ir, typemap: dict, statement) -> Optional[str]:
    """A list or set built of ints and floats (numba makes every item a float), or ``min`` /
    ``max`` of an int and a float (numba returns a float where CPython returns the int)."""
    from numba.core import ir, types

    value = statement.value
    if not isinstance(value, ir.Expr):
        return None
    if value.op in ("build_list", "build_set"):
        container = typemap.get(statement.target.name)
        item = getattr(container, "dtype", None)
        if any(_unified(typemap.get(v.name), item) for v in value.items):
            return f"a list or set of ints and floats (line {statement.loc.line}): numba makes every item a float"
    if value.op == "call":
        try:
            callee = func_ir.get_definition(value.func)
        except Exception:
            return None
        if isinstance(callee, (ir.Global, ir.FreeVar)) and callee.value in (min, max):
            kinds = [typemap.get(a.name) for a in value.args]
            if any(isinstance(k, types.Float) for k in kinds) and any(
                    isinstance(k, (types.Integer, types.Boolean)) for k in kinds):
                return f"{callee.value.__name__}() of an int and a float (line {statement.loc.line})"
    return None


# {a shape's element, filter or key (its Python function): whether its arguments are numpy
# scalars in CPython (over a numpy array) or Python numbers (over a range, a list of numbers)},
# while its kernel is built (engine.kernels); the functions they call are not in it (their
# arguments may be either). Numba types np.float64 and float alike; CPython does not.
numpy_arguments: contextvars.ContextVar[Dict[Any, bool]] = contextvars.ContextVar("numpy_arguments", default={})
_NUMPY, _PYTHON = "a numpy scalar", "a Python number"
# {(a user function's Python function, its argument types): (its typed IR, typemap, return type)},
# each recorded as it is typed while a kernel is built (``RefuseOtherTypes``; None: not recorded).
# A function the element calls is typed before the element's own checks run; the origins of its
# values depend on the arguments each call passes it (``_callee_refusal``): numba types np.int64
# and int alike, so ``return 0`` on one path and ``return n % 1000`` on another, with ``n`` an
# array's item, made every element one type where CPython gives each its own.
typed_functions: contextvars.ContextVar[Optional["TypedFunctions"]] = contextvars.ContextVar(
    "typed_functions", default=None)


@dataclass
class TypedFunctions:
    """What one kernel build recorded of the user's functions (``typed_functions``)."""
    # (function, argument types) -> (typed IR, typemap, return type)
    typed: Dict[Tuple[Any, tuple], Tuple[Any, dict, Any]] = field(default_factory=dict)
    # (id of a typed IR, its arguments' origins) -> the origin of what it returns; None while it
    # is being read (a recursive call tells nothing more)
    returns: Dict[Tuple[int, tuple], Optional[str]] = field(default_factory=dict)
    # whether any of them computes with floats as numpy would warn for (``may_warn``)
    may_warn: bool = False


_PYTHON_BOOLS = (operator.contains, operator.is_, operator.is_not)  # with ``not``: Python bools always


def origins(numpy_parts: Any) -> Any:
    """``numpy_arguments``' value for functions given an item (a bool: whether it is numpy's),
    or its parts (``engine.sources.numpy_parts``: one flag each, None where unknown)."""
    if isinstance(numpy_parts, tuple):
        return tuple({True: _NUMPY, False: _PYTHON}.get(flag) for flag in numpy_parts)
    return numpy_parts


def _global_value(func_ir, definition) -> Any:
    """The value a global or free variable, or an attribute of one (``np.float64``), holds; None
    for anything else."""
    from numba.core import ir

    if isinstance(definition, (ir.Global, ir.FreeVar)):
        return definition.value
    if isinstance(definition, ir.Expr) and definition.op == "getattr":
        try:
            base = _global_value(func_ir, func_ir.get_definition(definition.value))
        except Exception:
            return None
        return getattr(base, definition.attr, None) if isinstance(base, types_module.ModuleType) else None
    return None


def _callee_kind(func_ir, call) -> Optional[str]:
    """How a call's result relates to its arguments: "operator" (the checked operators: numpy
    if an operand is), "python" (math functions, int, round, float(): Python numbers), "numpy"
    (a numpy scalar type called: np.float64(x)), else None."""
    import numpy as np

    try:
        callee = func_ir.get_definition(call.func)
    except Exception:
        return None
    value = _global_value(func_ir, callee)
    if isinstance(value, type):  # np.float64(x) is numpy's, float(x) Python's, whatever x is
        if issubclass(value, np.generic):
            return "numpy"
        return "python" if value in (int, float, bool) else None
    name = getattr(value, "__name__", "")
    if not name.startswith("checked_"):
        return None
    kind = name[len("checked_"):]
    if kind in _SYMBOLS or kind in ("neg", "abs"):
        return "operator"
    if kind.startswith("numpy_"):  # a numpy scalar type, checked: numpy's scalar
        return "numpy"
    return "python" if kind.startswith("math_") or kind in ("int", "round") else None


def _origin(func_ir, typemap: dict, var, numpy_args: Any, memo: dict) -> Optional[str]:
    """Whether CPython's value of ``var`` is a numpy scalar or a Python number, where that can
    be told from its definitions (NEP 50: numpy op anything is numpy; math functions give
    Python floats); None where it cannot. ``memo``: the variables already read (None while one
    is being read: a loop's phi that comes back to itself tells nothing)."""
    if not hasattr(var, "name"):  # ir.UNDEFINED: a phi's value on a path that never set it
        return None
    if var.name not in memo:
        memo[var.name] = None
        memo[var.name] = _read_origin(func_ir, typemap, var, numpy_args, memo)
    return memo[var.name]


def _read_origin(func_ir, typemap: dict, var, numpy_args: Any, memo: dict) -> Optional[str]:
    from numba.core import ir, types

    try:
        definition = func_ir.get_definition(var)
    except Exception:  # several definitions: a loop variable
        return None
    recurse = functools.partial(_origin, func_ir, typemap, numpy_args=numpy_args, memo=memo)
    if isinstance(definition, ir.Var):
        return recurse(definition)
    if isinstance(definition, ir.Const):
        return _PYTHON if isinstance(definition.value, (int, float, bool)) else None
    if isinstance(definition, ir.Arg):
        if isinstance(numpy_args, tuple):  # a called function's: each argument's origin at the call
            return numpy_args[definition.index] if definition.index < len(numpy_args) else None
        return {True: _NUMPY, False: _PYTHON}.get(numpy_args)
    if not isinstance(definition, ir.Expr):
        return None
    if definition.op in ("getitem", "static_getitem"):
        container = typemap.get(definition.value.name)
        return _NUMPY if isinstance(container, types.Array) else None
    if definition.op in ("binop", "inplace_binop") and definition.fn in _PYTHON_BOOLS:
        return _PYTHON  # x in s, x is y: a Python bool whatever x is
    if definition.op == "unary" and definition.fn is operator.not_:
        return _PYTHON
    if definition.op in ("binop", "inplace_binop"):
        kinds = {recurse(definition.lhs), recurse(definition.rhs)}
    elif definition.op in ("unary", "cast"):
        return recurse(definition.value)
    elif definition.op == "phi":
        kinds = {recurse(value) for value in definition.incoming_values}
        if _NUMPY in kinds and len(kinds) > 1 and _first_pass_unseen(func_ir, var, definition, recurse, memo):
            return _NUMPY
    elif definition.op == "call":
        kind = _callee_kind(func_ir, definition)
        if kind is None:  # a function of the user's: what it returns, given these arguments
            found = _callee_typings(func_ir, typemap, definition, numpy_args, memo)
            if not found:
                return None
            origins, called = found
            kinds = {_returned_origin(callee_ir, callee_typemap, origins) for callee_ir, callee_typemap, _ in called}
            return kinds.pop() if len(kinds) == 1 else None
        if kind != "operator":
            return {"python": _PYTHON, "numpy": _NUMPY}.get(kind)
        kinds = {recurse(arg) for arg in definition.args}
    else:
        return None
    if _NUMPY in kinds:
        return _NUMPY if definition.op != "phi" or kinds == {_NUMPY} else None
    return _PYTHON if kinds == {_PYTHON} else None


def _first_pass_unseen(func_ir, var, phi, origin: Callable[[Any], Optional[str]], memo: dict) -> bool:
    """Whether the loop variable ``var`` (defined by ``phi`` at a for loop's header: a Python
    number as the loop starts, a numpy scalar after each pass) is a numpy scalar wherever its
    type shows: ``total = 0.0; for k in range(60): total += x * k`` over a numpy ``x``. So when
    the loop iterates a range of constants that is not empty (it makes a pass, and numpy's value
    is what it leaves), leaves only through its header (no ``break``: one in the first pass would
    leave the Python number), comes back with numpy scalars only (no ``continue`` keeping the
    start), and reads ``var`` inside only as an operand beside a numpy scalar (whose result is
    numpy's either way, NEP 50). Anything else stays refused: a loop that may make no pass leaves
    CPython's Python number, which numba would make numpy's type."""
    from numba.core import ir
    from numba.core.analysis import compute_cfg_from_blocks

    found = memo.get(("loops",))  # the function's loops and where each variable is set, once
    if found is None:
        cfg = compute_cfg_from_blocks(func_ir.blocks)
        where = {statement.target.name: label for label, block in func_ir.blocks.items()
                 for statement in block.body if isinstance(statement, ir.Assign)}
        found = memo[("loops",)] = (cfg, cfg.loops(), where)
    cfg, loops, where = found
    header = where.get(var.name)
    loop = loops.get(header)
    if loop is None or not _iterates_a_non_empty_range(func_ir, func_ir.blocks[header]):
        return False
    if any(successor not in loop.body and label != header
           for label in loop.body for successor, _ in cfg.successors(label)):
        return False  # a break
    if any(block in loop.body and origin(value) != _NUMPY
           for value, block in zip(phi.incoming_values, phi.incoming_blocks)):
        return False  # a pass may bring back what it was given
    for label in loop.body:
        for statement in func_ir.blocks[label].body:
            if var.name in {used.name for used in statement.list_vars()} and not (
                    isinstance(statement, ir.Assign) and statement.target.name == var.name):
                if not _beside_a_numpy_scalar(func_ir, statement, var, origin):
                    return False
    return True


def _iterates_a_non_empty_range(func_ir, header) -> bool:
    """Whether the loop whose header is ``header`` iterates ``range`` of int constants that is
    not empty."""
    from numba.core import ir

    for statement in header.body:
        if isinstance(statement, ir.Assign) and isinstance(statement.value, ir.Expr) \
                and statement.value.op == "iternext":
            try:
                made = func_ir.get_definition(statement.value.value)
                while isinstance(made, ir.Var):
                    made = func_ir.get_definition(made)
                called = func_ir.get_definition(made.value) if getattr(made, "op", None) == "getiter" else None
                ranges = (range, _helpers()[range])
                if getattr(called, "op", None) != "call" or called.kws or called.vararg \
                        or _global_value(func_ir, func_ir.get_definition(called.func)) not in ranges:
                    return False
                bounds = [func_ir.get_definition(argument) for argument in called.args]
            except Exception:  # several definitions: not a constant
                return False
            # bounds numba counts the passes of as CPython does (``_RANGE_BOUND``)
            return (all(isinstance(bound, ir.Const) and type(bound.value) is int
                        and abs(bound.value) <= _RANGE_BOUND for bound in bounds)
                    and 1 <= len(bounds) <= 3 and bool(range(*(bound.value for bound in bounds))))
    return False


def _beside_a_numpy_scalar(func_ir, statement, var, origin: Callable[[Any], Optional[str]]) -> bool:
    """Whether ``statement`` reads ``var`` only as one operand of an operator whose other
    operand is a numpy scalar."""
    from numba.core import ir

    value = statement.value if isinstance(statement, ir.Assign) else None
    if not isinstance(value, ir.Expr):
        return False
    if value.op in ("binop", "inplace_binop") and value.fn not in _PYTHON_BOOLS:
        operands = [value.lhs, value.rhs]
    elif value.op == "call" and _callee_kind(func_ir, value) == "operator" and not value.kws:
        operands = list(value.args)
    else:
        return False
    others = [operand for operand in operands if operand.name != var.name]
    return len(operands) == 2 and len(others) == 1 and origin(others[0]) == _NUMPY


def _mixed_origins(func_ir, typemap: dict, numpy_args: Any) -> Optional[str]:
    """A merge of branches, or the returns, where CPython has a numpy scalar on one path and a
    Python number (or what may be one) on another (``x if x > 0 else 0.0`` over a float64
    array): numba makes both one float64, and every element would take one type."""
    from numba.core import ir

    returned = set()
    memo: dict = {}
    for block in func_ir.blocks.values():
        for statement in block.body:
            if isinstance(statement, ir.Return):
                returned.add(_origin(func_ir, typemap, statement.value, numpy_args, memo))
            elif isinstance(statement, ir.Assign) and isinstance(statement.value, ir.Expr) \
                    and statement.value.op == "phi":
                # the merge's own origin first: read from one of its values, it would find the
                # merge being read (a loop's), and tell nothing of it
                merged = _origin(func_ir, typemap, statement.target, numpy_args, memo)
                kinds = {_origin(func_ir, typemap, v, numpy_args, memo) for v in statement.value.incoming_values}
                if _NUMPY in kinds and len(kinds) > 1 and merged != _NUMPY:
                    name, line = statement.target.unversioned_name, statement.loc.line
                    return f"{name} is {_NUMPY} or {_other(kinds)} (line {line})"
    if _NUMPY in returned and len(returned) > 1:
        return f"the function returns {_NUMPY} or {_other(returned)}"
    return None


def _as_typed(func_ir):
    """A copy of ``func_ir`` as it is when typed, which the passes after typing (that take its
    phis out) leave as it is: its blocks' statements and its definitions copied."""
    copied = func_ir.copy()
    copied._definitions = {name: list(values) for name, values in func_ir._definitions.items()}
    return copied


ENGINES_OWN = "__ufora_"  # the names of the functions the rewriter makes (a twin's loops: engine.rewriter)


def _callee(func_ir, call) -> Optional[Any]:
    """The dispatcher a call calls, where it is one of the user's functions the checked compiler
    compiles (not one of the engine's own, nor one the user jitted with numba's own pipeline)."""
    try:
        value = _global_value(func_ir, func_ir.get_definition(call.func))
    except Exception:
        return None
    function = getattr(value, "py_func", None)
    compiler_of = getattr(getattr(value, "_compiler", None), "pipeline_class", None)
    if function is None or compiler_of is not compiler() or function.__name__.startswith(ENGINES_OWN):
        return None
    return value


def _callee_typings(func_ir, typemap: dict, call, numpy_args: Any, memo: dict) -> Optional[Tuple[tuple, list]]:
    """(the origin of each parameter of the user's function a call calls, bound as Python binds
    the call's arguments, keywords and defaults; the typed IRs recorded of it), or None where
    it calls no such function or nothing was recorded (outside a kernel's build). [] as the
    typed IRs: it cannot be checked (a ``*args`` call, or a typing that was not recorded)."""
    record = typed_functions.get()
    dispatcher = _callee(func_ir, call) if record is not None else None
    if dispatcher is None:
        return None
    called = [typed for (function, _), typed in record.typed.items() if function is dispatcher.py_func]
    if call.vararg is not None or call.varkwarg is not None:
        return (), []
    signature = inspect.signature(dispatcher.py_func)
    try:
        bound = signature.bind(*call.args, **dict(call.kws))
    except TypeError:
        return (), []
    origin = functools.partial(_origin, func_ir, typemap, numpy_args=numpy_args, memo=memo)
    origins = []
    for parameter in signature.parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            return (), []
        if parameter.name in bound.arguments:
            origins.append(origin(bound.arguments[parameter.name]))
        else:  # its default
            default = parameter.default
            origins.append(_NUMPY if isinstance(default, numpy.generic) else
                           _PYTHON if isinstance(default, (bool, int, float)) else None)
    return tuple(origins), called


def _returned_origin(func_ir, typemap: dict, numpy_args: tuple) -> Optional[str]:
    """What a called function returns given its arguments' origins: a numpy scalar or a Python
    number on every path, else None; read once per build (``TypedFunctions.returns``), and None
    for a call of itself while it is being read (recursion)."""
    from numba.core import ir

    record = typed_functions.get()
    key = (id(func_ir), numpy_args)
    if record is not None and key in record.returns:
        return record.returns[key]
    if record is not None:
        record.returns[key] = None
    memo: dict = {}
    kinds = {_origin(func_ir, typemap, statement.value, numpy_args, memo)
             for block in func_ir.blocks.values() for statement in block.body if isinstance(statement, ir.Return)}
    returned = kinds.pop() if len(kinds) == 1 else None
    if record is not None:
        record.returns[key] = returned
    return returned


def _callee_refusal(func_ir, typemap: dict, statement, numpy_args, memo: dict, seen: set) -> Optional[str]:
    """Why a function of the user's that ``statement`` calls must not be compiled, given the
    origins of the arguments it passes (``refusal`` of the callee with them); ``seen``: the
    (function, origins) already checked, a recursive function's included."""
    from numba.core import ir

    value = statement.value
    if not (isinstance(value, ir.Expr) and value.op == "call") or _callee_kind(func_ir, value) is not None:
        return None
    found = _callee_typings(func_ir, typemap, value, numpy_args, memo)
    if found is None:
        return None
    origins, called = found
    if not called:
        return f"a call at line {statement.loc.line} that could not be checked (its arguments' types)"
    for callee_ir, callee_typemap, return_type in called:
        if (id(callee_ir), origins) in seen:
            continue
        seen.add((id(callee_ir), origins))
        why = refusal(callee_ir, callee_typemap, return_type, origins, seen)
        if why:
            return f"{why}, in {callee_ir.func_id.func_name}() called at line {statement.loc.line}"
    return None


def _other(kinds: set) -> str:
    """What a value is besides a numpy scalar: a Python number, or what cannot be told (a
    helper's argument, which may be either: not compiled, as a Python number would be wrong)."""
    return _PYTHON if _PYTHON in kinds else "a value that may be a Python number"


# numpy's reductions of an array add pairwise (or otherwise than in order), numba's in order:
# the last bits of a float row's sum, mean, std differ
_ARRAY_REDUCTIONS = frozenset({"sum", "mean", "std", "var", "prod", "cumsum", "cumprod", "nansum", "nanmean",
                               "nanstd", "nanvar", "average", "dot", "linalg"})
# math functions numba computes with code of its own, not the C library's CPython calls
_OWN_MATH = frozenset({math.gamma})
# numpy's float functions that numpy computes with code of its own (SIMD, chosen by the CPU),
# where numba calls the C library's: np.exp differed in the last bit for 948 of 20,000 items,
# np.log and np.arctan for some (a user's trial)
_NUMPYS_OWN = frozenset(getattr(numpy, name) for name in (
    "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "cbrt", "sin", "cos", "tan", "arcsin", "arccos",
    "arctan", "arctan2", "sinh", "cosh", "tanh", "arcsinh", "arccosh", "arctanh"))


def _not_cpythons_call(func_ir, typemap: dict, statement, numpy_args: Any, memo: dict) -> Optional[str]:
    """A call whose compiled result would not be CPython's: numpy's reductions of an array (its
    methods and the module's functions), math functions numba implements itself, ``min``/``max``
    of a numpy scalar and a Python number (CPython keeps the winner's type), arithmetic on
    numpy bools (numpy's ``+`` of two is a logical or, its ``-`` an error; numba's are an int),
    and ``~`` of a bool (CPython's ``~True`` is -2, numba's False)."""
    from numba.core import ir, types

    value = statement.value
    if not isinstance(value, ir.Expr):
        return None
    line = statement.loc.line
    if value.op == "unary" and value.fn is operator.invert and isinstance(typemap.get(value.value.name),
                                                                         types.Boolean):
        return f"~ of a bool (line {line}): CPython's is an int (~True is -2), numba's a logical not"
    if value.op == "getattr" and value.attr in _ARRAY_REDUCTIONS:
        owner = typemap.get(value.value.name)
        if isinstance(owner, types.Array) or isinstance(owner, types.Module):
            return f"numpy's {value.attr} (line {line}) adds otherwise than numba's, in the last bits"
    if value.op != "call":
        return None
    try:
        callee = func_ir.get_definition(value.func)
    except Exception:
        return None
    function = getattr(callee, "value", None) if isinstance(callee, (ir.Global, ir.FreeVar)) else None
    if isinstance(callee, ir.Expr) and callee.op == "getattr":  # math.gamma(...)
        owner = typemap.get(callee.value.name)
        module = getattr(owner, "pymod", None)
        function = getattr(module, callee.attr, None) if module is math or module is numpy else None
    if function in _OWN_MATH:
        return f"math.{function.__name__} (line {line}): numba's own, not the C library's"
    if function in _NUMPYS_OWN:
        return f"numpy.{function.__name__} (line {line}): numpy's own code, numba calls the C library's"
    origin = functools.partial(_origin, func_ir, typemap, numpy_args=numpy_args, memo=memo)
    if function in (min, max) and {_NUMPY, _PYTHON} <= {origin(a) for a in value.args}:
        return f"{function.__name__}() of a numpy scalar and a Python number (line {line}): CPython keeps each type"
    if _callee_kind(func_ir, value) == "operator" and any(
            isinstance(typemap.get(a.name), types.Boolean) and origin(a) == _NUMPY for a in value.args):
        return f"arithmetic on numpy bools (line {line}): numpy's is logical, numba's an int's"
    if _callee_kind(func_ir, value) == "operator" and _constant_warns(func_ir, value):
        return (f"arithmetic of numpy constants (line {line}): the compiler computes it once, and numpy's "
                f"warning for it at each pass would be lost")
    return None


_NOT_CONSTANT = object()


def _constant_warns(func_ir, call) -> bool:
    """Whether an operator's operands are all constants (a literal, a global's or a closure's
    value, numpy's scalar of one, or such an operation of them), one of them numpy's, and numpy
    warns as it computes it: the compiler computes it as it compiles, so no flag is raised as
    the kernel runs (``c * 10.0`` with ``c = np.float64(1e308)``)."""
    operands = [_constant_value(func_ir, arg, 0) for arg in call.args]
    function = _operation(func_ir, call)
    if function is None or any(operand is _NOT_CONSTANT for operand in operands) or not any(
            isinstance(operand, numpy.generic) for operand in operands):
        return False
    try:
        with numpy.errstate(all="raise"):
            function(*operands)
    except FloatingPointError:
        return True
    except Exception:  # noqa: BLE001 - CPython's own error: raised where the kernel computes it too
        return False
    return False


def _operation(func_ir, call) -> Optional[Callable]:
    """What an operator's or a numpy scalar type's call computes, in CPython (None: another)."""
    kind = _callee_kind(func_ir, call)
    if kind not in ("operator", "numpy") or call.kws:
        return None
    callee = _global_value(func_ir, func_ir.get_definition(call.func))
    if kind == "numpy":
        return callee if isinstance(callee, type) else None
    return _OPERATORS.get(getattr(callee, "__name__", "")[len("checked_"):])


def _constant_value(func_ir, var, depth: int) -> Any:
    """The value of a constant operand (``_constant_warns``), or ``_NOT_CONSTANT`` (also where
    computing it raises)."""
    from numba.core import ir

    try:
        definition = func_ir.get_definition(var)
    except Exception:  # several definitions: not a constant
        return _NOT_CONSTANT
    if isinstance(definition, (ir.Const, ir.Global, ir.FreeVar)):
        value = definition.value
        return value if isinstance(value, (int, float, complex, numpy.number)) else _NOT_CONSTANT
    if not (isinstance(definition, ir.Expr) and definition.op == "call") or depth > 8:
        return _NOT_CONSTANT
    function = _operation(func_ir, definition)
    operands = [_constant_value(func_ir, arg, depth + 1) for arg in definition.args]
    if function is None or any(operand is _NOT_CONSTANT for operand in operands):
        return _NOT_CONSTANT
    try:
        with numpy.errstate(all="ignore"):
            return function(*operands)
    except Exception:  # noqa: BLE001 - not a value
        return _NOT_CONSTANT


# the checked helpers' names: their operators (``_operation``)
_OPERATORS: Dict[str, Callable] = {**{name: function for function, name in _BINARY.items()},
                                   **{name: function for function, name in _COMPARE.items()},
                                   "neg": operator.neg, "abs": abs}


def _numpys_function(value: Any) -> bool:
    """Whether ``value`` is one of numpy's functions (a ufunc or another; not a scalar type)."""
    if isinstance(value, numpy.ufunc):
        return True
    module = getattr(value, "__module__", None)
    return callable(value) and not isinstance(value, type) and isinstance(module, str) \
        and module.split(".")[0] == "numpy"


_QUIET_CALLS = (min, max, len, bool, range, enumerate, zip, isinstance)  # compare or count only


def may_warn(func_ir, typemap: dict, numpy_args: Any = None, seen: Optional[set] = None) -> bool:
    """Whether the function may compute with floats where CPython would ask numpy, whose error
    mode "warn" issues a RuntimeWarning for a division by zero, an invalid value or an overflow
    that compiled code passes over in silence: arithmetic on floats, complex numbers or arrays
    that are not all Python numbers (a Python float's gives inf and nan quietly, or raises in
    CPython, and ints are checked apart: ``_check_arithmetic``), a call of numpy's or of what
    cannot be told (a function passed in, an array's method), or of the user's functions that
    may, given the origins of what it passes them (``seen``: those read). Comparisons never warn
    (compiled code may raise the invalid flag for a nan there: that costs a recompute only)."""
    from numba.core import ir

    memo: dict = {}
    seen = set() if seen is None else seen
    origin = functools.partial(_origin, func_ir, typemap, numpy_args=numpy_args, memo=memo)
    for block in func_ir.blocks.values():
        for statement in block.body:
            value = statement.value if isinstance(statement, ir.Assign) else None
            if not isinstance(value, ir.Expr):
                continue
            if value.op == "call" and _call_may_warn(func_ir, typemap, value, numpy_args, memo, seen):
                return True
            if value.op in ("binop", "inplace_binop") and value.fn not in _COMPARE and value.fn not in _PYTHON_BOOLS \
                    and _numpy_arithmetic(typemap, [value.lhs, value.rhs], origin):
                return True
            if value.op == "unary" and value.fn is not operator.not_ and _numpy_arithmetic(typemap, [value.value],
                                                                                             origin):
                return True
    return False


def _numpy_arithmetic(typemap: dict, operands: list, origin: Callable[[Any], Optional[str]]) -> bool:
    """Whether an operation on ``operands`` is numpy's and of floats (or arrays): one of them
    is a float, complex or array, and one is not known to be a Python number."""
    from numba.core import types

    return any(isinstance(typemap.get(operand.name), (types.Float, types.Complex, types.Array))
               for operand in operands) and any(origin(operand) != _PYTHON for operand in operands)


def _call_may_warn(func_ir, typemap: dict, call, numpy_args: Any, memo: dict, seen: set) -> bool:
    from numba.core import ir, types

    origin = functools.partial(_origin, func_ir, typemap, numpy_args=numpy_args, memo=memo)
    kind = _callee_kind(func_ir, call)
    if kind == "operator":
        name = _global_value(func_ir, func_ir.get_definition(call.func)).__name__[len("checked_"):]
        return name not in _COMPARE.values() and _numpy_arithmetic(typemap, list(call.args), origin)
    if kind is not None:  # a math function's, a conversion's: CPython's raise, checked
        return False
    try:
        callee = func_ir.get_definition(call.func)
    except Exception:  # not one definition: what it calls cannot be told
        return True
    value = _global_value(func_ir, callee)
    if _numpys_function(value):
        return True
    if isinstance(typemap.get(call.func.name), types.Dispatcher):  # the user's: as it computes
        found = _callee_typings(func_ir, typemap, call, numpy_args, memo)
        if not found or not found[1]:
            return True
        origins, called = found
        for callee_ir, callee_typemap, _ in called:
            if (id(callee_ir), origins) not in seen:
                seen.add((id(callee_ir), origins))
                if may_warn(callee_ir, callee_typemap, origins, seen):
                    return True
        return False
    if isinstance(callee, ir.Expr) and callee.op == "getattr" \
            and isinstance(typemap.get(callee.value.name), types.Array):
        return True  # an array's method: numpy's
    if isinstance(callee, (ir.Arg, ir.FreeVar)) or (isinstance(callee, ir.Expr) and callee.op != "getattr"):
        return True  # a function passed in (np.sqrt given to a helper)
    return not any(value is quiet for quiet in _QUIET_CALLS) and _numpy_arithmetic(typemap, list(call.args), origin)


def element_sum_may_warn(element: Callable, numpy_args: Any) -> bool:
    """Whether a sum of the element's values adds numpy's floats (``sum(a[i] for i in r)``: the
    kernel's own additions, which numpy would warn for as they overflow)."""
    from numba.core import types

    record = typed_functions.get()
    for (function, _), (func_ir, typemap, return_type) in (record.typed.items() if record else ()):
        if function is element and isinstance(return_type, (types.Float, types.Complex)) \
                and _returned_origin(func_ir, typemap, numpy_args) != _PYTHON:
            return True
    return False


def refusal(func_ir, typemap: dict, return_type, numpy_args: Any = None,
            seen: Optional[set] = None) -> Optional[str]:
    """Why a typed function must not be compiled (its values would not have CPython's types),
    or None: narrow numpy scalars anywhere; a variable, a merge of branches or a return that
    is an int or a bool on one path and a float (or an int) on another; a call numba answers
    otherwise (``_not_cpythons_call``); the same in the functions of the user's it calls, given
    the origins of the arguments it passes them (``_callee_refusal``). ``numpy_args``: whether
    its arguments are numpy scalars (a bool), or the origin of each (a tuple: a callee's)."""
    from numba.core import ir

    for name, numba_type in typemap.items():
        if _narrow(numba_type):
            return f"{name} is {numba_type}, which numba computes with differently from numpy"
    memo: dict = {}
    seen = set() if seen is None else seen
    for block in func_ir.blocks.values():
        for statement in block.body:
            if isinstance(statement, ir.Assign):
                why = (_mixed_call_or_container(func_ir, typemap, statement)
                       or _not_cpythons_call(func_ir, typemap, statement, numpy_args, memo)
                       or _callee_refusal(func_ir, typemap, statement, numpy_args, memo, seen))
                if why:
                    return why
            if isinstance(statement, ir.Return):
                sources, target = [statement.value], return_type
            elif isinstance(statement, ir.Assign):
                value, target = statement.value, typemap.get(statement.target.name)
                if isinstance(value, ir.Var):
                    sources = [value]
                elif isinstance(value, ir.Expr) and value.op == "phi":
                    sources = list(value.incoming_values)
                elif isinstance(value, ir.Expr) and value.op == "cast":
                    sources = [value.value]
                else:
                    continue
            else:
                continue
            if isinstance(statement, ir.Assign) and statement.target.unversioned_name == _GUARDED_ACCUMULATOR:
                continue
            for source in sources:
                if isinstance(source, ir.Var) and _unified(typemap.get(source.name), target):
                    return (f"{source.unversioned_name} is {typemap[source.name]} where numba makes it "
                            f"{target} (line {statement.loc.line}): CPython keeps each value's type")
    return _mixed_origins(func_ir, typemap, numpy_args)


@functools.lru_cache(maxsize=None)
def compiler() -> type:
    """numba's nopython pipeline with the arithmetic checks before type inference and the type
    refusals after it: the ``pipeline_class`` of every compiled user function."""
    from numba.core.compiler import CompilerBase, DefaultPassBuilder
    from numba.core.compiler_machinery import FunctionPass, register_pass
    from numba.core.errors import TypingError
    from numba.core.typed_passes import NopythonTypeInference
    from numba.core.untyped_passes import LiteralPropagationSubPipelinePass

    _helpers()  # registered before any compilation starts: numba reads its registries then
    _register_alias_rules()
    @register_pass(mutates_CFG=False, analysis_only=False)
    class CheckArithmetic(FunctionPass):
        _name = "ufora_check_arithmetic"

        def __init__(self) -> None:
            FunctionPass.__init__(self)

        def run_pass(self, state) -> bool:
            return _check_arithmetic(state.func_ir)

    @register_pass(mutates_CFG=False, analysis_only=True)
    class RefuseOtherTypes(FunctionPass):
        _name = "ufora_refuse_other_types"

        def __init__(self) -> None:
            FunctionPass.__init__(self)

        def run_pass(self, state) -> bool:
            record = typed_functions.get()
            if record is not None:  # as it is now: later passes take its phis out in place
                record.typed[(state.func_id.func, tuple(state.args))] = (
                    _as_typed(state.func_ir), dict(state.typemap), state.return_type)
            numpy_args = numpy_arguments.get().get(state.func_id.func)
            why = refusal(state.func_ir, state.typemap, state.return_type, numpy_args)
            if why:
                raise TypingError(why)
            # from the shape's own functions, whose arguments' origins are known, through the
            # functions they call (typed before them)
            if record is not None and not record.may_warn and state.func_id.func in numpy_arguments.get():
                record.may_warn = may_warn(state.func_ir, state.typemap, numpy_args)
            return False

    class CheckedCompiler(CompilerBase):
        def define_pipelines(self):
            manager = DefaultPassBuilder.define_nopython_pipeline(self.state)
            # the last untyped pass: the IR is final but not typed yet
            manager.add_pass_after(CheckArithmetic, LiteralPropagationSubPipelinePass)
            manager.add_pass_after(RefuseOtherTypes, NopythonTypeInference)
            manager.finalize()
            return [manager]

    return CheckedCompiler
