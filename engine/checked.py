"""Checked integer arithmetic for compiled user functions: a Python int never wraps.

CPython's ints are unbounded; numba's are int64, so ``x ** 40`` or ``a * b`` with large values
would silently wrap in a compiled kernel. Every function the kernel builder compiles
(``engine.kernels.jit_clone``) goes through ``CheckedCompiler``: before type inference, a pass
replaces each ``+ - * ** << //`` (and their augmented forms), unary ``-`` and ``abs`` of the
function's IR with a call to a helper of this module. For signed integers (or bools) the
helper computes the int64 result with LLVM's overflow-reporting intrinsics and raises
OverflowError when it would not be exact; for any other types it is the plain operator, so floats, arrays and strings
behave as before. ``int ** negative`` raises too: CPython gives a float there, numba 0.

A compiled partition that raises is recomputed in CPython (``engine.tasks``), which gives the
exact answer with Python ints: the check costs a branch per operation.

Not covered: arithmetic inside numba's own library code (``sum`` of a list, ``divmod``,
``int()``/``round()`` of a float beyond int64), and numpy's narrower ints (int32 items: CPython's
numpy scalars wrap at 32 bits where the kernel computes in int64).
"""
from __future__ import annotations

import functools
import operator
from typing import Any, Callable, Dict

# The operators checked, by the function numba's IR names them with; augmented assignments
# (``x += y``) have their own helper, whose non-integer form keeps the in-place update (arrays).
_BINARY = {operator.add: "add", operator.sub: "sub", operator.mul: "mul", operator.pow: "pow",
           operator.lshift: "lshift", operator.floordiv: "floordiv"}
_INPLACE = {operator.iadd: "add", operator.isub: "sub", operator.imul: "mul", operator.ipow: "pow",
            operator.ilshift: "lshift", operator.ifloordiv: "floordiv"}
_SYMBOLS = {"add": "+", "sub": "-", "mul": "*", "pow": "**", "lshift": "<<", "floordiv": "//"}
_INT64_MIN = -2**63  # the one int64 whose negation (and abs, and // -1) does not fit
_WRAPS = "integer result does not fit in int64"


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

    def floor_divide(a, b):
        if b == -1 and a == _INT64_MIN:
            raise OverflowError(_WRAPS)
        return a // b

    return {"add": arithmetic("add"), "sub": arithmetic("sub"), "mul": arithmetic("mul"), "pow": power,
            "lshift": shift, "floordiv": floor_divide}


def _plain(symbol: str, inplace: bool) -> Callable:
    """The operator itself, for operands that are not both signed integers."""
    namespace: Dict[str, Any] = {}
    body = f"a {symbol}= b\n    return a" if inplace else f"return a {symbol} b"
    exec(f"def plain(a, b):\n    {body}", namespace)
    return namespace["plain"]


def _negate(a):
    if a == _INT64_MIN:
        raise OverflowError(_WRAPS)
    return -a


def _absolute(a):
    if a == _INT64_MIN:
        raise OverflowError(_WRAPS)
    return abs(a)


@functools.lru_cache(maxsize=None)
def _helpers() -> Dict[Any, Callable]:
    """The helper that replaces each operator (by IR function), overloaded for numba; built on
    first use since it imports numba."""
    from numba.core import types
    from numba.extending import overload

    def signed(t) -> bool:
        return isinstance(t, types.Boolean) or (isinstance(t, types.Integer) and t.signed)

    def chooser(exact: Callable, plain: Callable, unary: bool = False) -> Callable:
        """numba's typing function: the exact form for signed integers, else the plain one."""
        if unary:
            return lambda a: exact if signed(a) else plain
        return lambda a, b: exact if signed(a) and signed(b) else plain

    exact = _exact_forms(_intrinsics())
    helpers: Dict[Any, Callable] = {}
    for table, inplace in ((_BINARY, False), (_INPLACE, True)):
        for function, name in table.items():
            helpers[function] = _stub(name)
            overload(helpers[function])(chooser(exact[name], _plain(_SYMBOLS[name], inplace)))
    for function, name, exact_form in ((operator.neg, "neg", _negate), (abs, "abs", _absolute)):
        helpers[function] = _stub(name)
        plain_form = (lambda a: -a) if function is operator.neg else (lambda a: abs(a))
        overload(helpers[function])(chooser(exact_form, plain_form, unary=True))
    return helpers


def _check_integer_arithmetic(func_ir) -> bool:
    """Replace, in place, each checked operator of ``func_ir`` with a call to its helper, and
    the builtin ``abs`` with its own."""
    from numba.core import ir

    helpers = _helpers()
    changed = False
    for block in func_ir.blocks.values():
        body = []
        for statement in block.body:
            expression = statement.value if isinstance(statement, ir.Assign) else None
            if isinstance(expression, (ir.Global, ir.FreeVar)) and expression.value is abs:
                statement.value = ir.Global(helpers[abs].__name__, helpers[abs], statement.loc)
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


@functools.lru_cache(maxsize=None)
def compiler() -> type:
    """numba's nopython pipeline with the integer check before type inference: the
    ``pipeline_class`` of every compiled user function."""
    from numba.core.compiler import CompilerBase, DefaultPassBuilder
    from numba.core.compiler_machinery import FunctionPass, register_pass
    from numba.core.untyped_passes import LiteralPropagationSubPipelinePass

    _helpers()  # registered before any compilation starts: numba reads its registries then
    @register_pass(mutates_CFG=False, analysis_only=False)
    class CheckIntegerArithmetic(FunctionPass):
        _name = "ufora_check_integer_arithmetic"

        def __init__(self) -> None:
            FunctionPass.__init__(self)

        def run_pass(self, state) -> bool:
            return _check_integer_arithmetic(state.func_ir)

    class CheckedCompiler(CompilerBase):
        def define_pipelines(self):
            manager = DefaultPassBuilder.define_nopython_pipeline(self.state)
            # the last untyped pass: the IR is final but not typed yet
            manager.add_pass_after(CheckIntegerArithmetic, LiteralPropagationSubPipelinePass)
            manager.finalize()
            return [manager]

    return CheckedCompiler
