"""Sphinx configuration of fastgmm's documentation (build: python -m sphinx -W -b html docs docs/_build/html)."""

import os

import matplotlib

matplotlib.use("Agg")
os.environ.setdefault("FASTGMM_EXAMPLES_OUT", os.path.join(os.path.dirname(__file__), "_build", "examples-out"))
os.makedirs(os.environ["FASTGMM_EXAMPLES_OUT"], exist_ok=True)

import fastgmm  # noqa: E402

project = "fastgmm"
author = "the fastgmm developers"
copyright = "the fastgmm developers"
release = fastgmm.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": True}
numpydoc_show_class_members = False
numpydoc_validation_checks = set()

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
}

exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
templates_path = []
html_theme = "pydata_sphinx_theme"
html_title = f"fastgmm {release}"
html_static_path = []
