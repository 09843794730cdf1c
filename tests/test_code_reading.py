"""Reading a block's place in its file without walking the whole file (``engine.code``): the
``with`` statement at a line and its enclosing function are found along one path of the tree,
and a copy of a tree shares nothing that the rewriter could change. Each answer is checked
against a search of every node, the way these were found before."""
import ast
import textwrap

import pytest

from ufora.engine import as_written, block, code, rewriter

SOURCE = textwrap.dedent('''
    import math

    def decorated(f):
        return f

    @decorated
    def outer(ufora, n):
        with ufora.remotely.downloadAll():
            total = sum(x for x in range(n))
        def inner(m):
            with ufora.remotely.downloadAll(
            ):
                rows = [[i * j for j in range(m)] for i in range(m)]
                with open("f") as f, open("g") as g: pass
            return rows
        return total, inner

    class Holder:
        with ufora.remotely.downloadAll():
            size = len([k for k in range(3)])

        def method(self):
            with ufora.remotely.downloadAll():
                self.value = {k: k * k for k in range(3)}

    with ufora.remotely.downloadAll(): top = max(math.sqrt(v) for v in range(9))
    lambda_here = lambda v: [w for w in range(v)]
''')


def every_node_answer(tree, line):
    """The innermost with statement holding ``line`` in its header, found by reading every node."""
    found = [node for node in ast.walk(tree) if isinstance(node, ast.With) and node.lineno <= line <= node.body[0].lineno]
    return max(found, key=lambda node: node.lineno) if found else None


def every_node_function(tree, block_node):
    """The innermost function holding ``block_node``, climbing its parents (a class between
    them is its own scope: None)."""
    parents = {id(child): node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    node = parents.get(id(block_node))
    while node is not None and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        node = parents.get(id(node))
    return node if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else None


@pytest.mark.parametrize("line", range(1, len(SOURCE.splitlines()) + 2))
def test_the_with_statement_and_its_function_at_every_line_are_those_a_full_search_finds(line):
    tree = ast.parse(SOURCE)
    expected = every_node_answer(tree, line)
    if expected is None:
        with pytest.raises(ValueError, match=f"no with statement found at line {line}"):
            code.find_with(tree, line)
        return
    found = code.find_with(tree, line)
    assert found is expected
    assert code.enclosing_function(tree, found) is every_node_function(tree, found)


def test_a_copy_is_equal_to_the_tree_and_shares_no_node_or_list_with_it():
    tree = ast.parse(SOURCE)
    tree.body[2].ufora_mark = ["left by a rewriter"]
    copied = code.copied(tree)
    assert ast.dump(copied, include_attributes=True) == ast.dump(tree, include_attributes=True)
    assert copied.body[2].ufora_mark == ["left by a rewriter"]
    assert copied.body[2].ufora_mark is not tree.body[2].ufora_mark
    originals = {id(node) for node in ast.walk(tree) if not isinstance(node, ast.expr_context)}
    assert not any(id(node) in originals for node in ast.walk(copied) if not isinstance(node, ast.expr_context))
    before = ast.dump(tree, include_attributes=True)
    rewriter.rewrite(copied)  # rewriting the copy leaves the tree as parsed
    assert ast.dump(tree, include_attributes=True) == before
    assert ast.dump(copied) != before


HELPER_IN_BLOCK = textwrap.dedent('''
    def job(ufora, n):
        with ufora.remotely.downloadAll():
            def square_sum(m):
                return sum(k * k for k in range(m))
            total = square_sum(n)
        return total
''')


def test_a_blocks_function_compiled_as_written_keeps_the_text_the_rewriter_changed():
    """The worker compiles a block's body twice from one parse, rewritten and as written (a
    copy taken before rewriting): a function the block defines goes back to the client with the
    code as written, which holds no engine hook."""
    compiled, names, *_ = block._compile_body(HELPER_IN_BLOCK, "<reading>", 3)
    assert names == ("square_sum", "total")
    rewritten = next(c for c in code.nested_codes(compiled.code) if c.co_name == "square_sum")
    written = as_written._ORIGINALS[rewritten]
    assert any(name in rewriter.HOOKS for c in code.nested_codes(rewritten) for name in c.co_names)
    assert not any(name in rewriter.HOOKS for c in code.nested_codes(written) for name in c.co_names)
    assert written.co_firstlineno == rewritten.co_firstlineno == 4
