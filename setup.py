"""Package list (everything else is in pyproject.toml).

setuptools' ``packages.find`` cannot rename a folder, so the list is built here: ``probcascade`` and all of its
subpackages (``find_packages(include=["probcascade*"])``), plus the top-level folder ``inference/`` (the torch code,
used with the ``llm`` extra) installed under the import name ``probcascade_inference``.
"""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["probcascade*"])
    + ["probcascade_inference"]
    + ["probcascade_inference." + p for p in find_packages(where="inference")],
    package_dir={"probcascade_inference": "inference"},
)
