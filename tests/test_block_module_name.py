"""A block's namespace on the cluster is named as its module at home (``__name__``): what it
defines is that module's, so an instance of a named tuple a module-level block made pickles at
home afterwards (it raised PicklingError: "import of module '__ufora_block__' failed"), and
``if __name__ == "__main__":`` in a block holds where the script runs as the main module."""
import textwrap

from tests.conftest import client_script

SCRIPT = textwrap.dedent("""
    import collections, pickle, pyfora
    ufora = pyfora.connect(progress=False)
    with ufora.remotely.downloadAll().onCluster():
        Row = collections.namedtuple("Row", "key value")
        row = Row("a", 1)
    with ufora.remotely.downloadAll().onCluster():
        main = __name__ == "__main__"
    print(Row.__module__, main, pickle.loads(pickle.dumps(row)) == row)
    ufora.close()
""")


def test_a_module_level_block_defines_what_its_module_would(tmp_path, cluster_url):
    client = client_script(tmp_path / "rows.py", SCRIPT, cluster_url)
    out, err = client.communicate(timeout=120)
    assert client.returncode == 0, err
    assert out.split() == ["__main__", "True", "True"], (out, err)
