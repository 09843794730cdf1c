import pathlib
import re

from setuptools import find_packages, setup

HERE = pathlib.Path(__file__).parent
# net/version.py is the one place the release is written; read as text (importing the package
# here would need its dependencies installed first)
VERSION = re.search(r'__version__ = "([^"]+)"', (HERE / "net" / "version.py").read_text())[1]
OURS = {"ufora": "ufora", "ufora.engine": "engine", "ufora.net": "net"}  # package -> its folder

setup(
    name="ufora",
    version=VERSION,
    description="Run ordinary Python on every core of every machine: the ufora cluster and pyfora",
    # one top-level name, ufora, whose engine and net are the design's top-level folders (ufora/__init__.py
    # maps them the same way in a source checkout), and pyfora beside it: nothing else in site-packages
    # (those present: the Dockerfile's first install has setup.py alone, for the dependencies' layer)
    packages=[name for name, folder in OURS.items() if (HERE / folder / "__init__.py").exists()]
    + find_packages(include=["pyfora", "pyfora.*"]),
    package_dir={name: folder for name, folder in OURS.items() if name != folder},
    python_requires=">=3.10",
    install_requires=[
        "numpy",
        "numba",
        "tornado>=6.3",
        "python-socketio[client]>=5.10",
        "cloudpickle>=3.0",
        "lz4>=4.0",
        "tqdm>=4.60",
        "pandas>=2.2",  # a block's DataFrames and Series: read and split on the cluster too
        "pyarrow>=14",  # pyfora.read_csv/read_parquet (pyfora.datasets): files parsed in pieces on the workers
    ],
    # nbclient, nbformat, ipykernel, ipywidgets: a real Jupyter kernel for the progress widget's test;
    # scikit-learn: the reference pyfora.algorithms is tested (and perf.algorithms timed) against;
    # playwright: drives Debian's Chromium for the dashboard's test (its own browsers are not used);
    # s3fs, boto3, moto[server]: a local S3 server for the object-store tests (tests/test_datasets_s3.py)
    extras_require={"s3": ["s3fs"],  # s3:// URLs in pyfora.read_csv/importDataset and importS3Dataset (pyfora.storage)
                    "test": ["s3fs", "boto3", "moto[server]", "pytest", "pytest-timeout", "hypothesis", "ipython",
                             "ruff", "mypy", "nbclient", "nbformat", "ipykernel", "ipywidgets", "scikit-learn",
                             "playwright"]},
    package_data={"ufora.net": ["dashboard_page/*"]},
    entry_points={"console_scripts": ["ufora-service=ufora.net.service:main"]},
)
