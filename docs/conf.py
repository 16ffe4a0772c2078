"""Sphinx configuration of the opticsim documentation.

Build (from the repository root, with ``pip install -e '.[docs]'``)::

    python -m sphinx -W --keep-going -n -b html docs docs/_build/html

``-W`` turns warnings into errors and ``-n`` refuses broken cross-references, so docstrings stay
valid. The gallery runs the quick examples (``filename_pattern``); the others are shown, not run.
"""

import sys
from pathlib import Path

import opticsim

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

project = "opticsim"
author = "opticsim developers"
copyright = "2026, opticsim developers"
release = opticsim.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinx_gallery.gen_gallery",
    "opticsim_docs",
]

exclude_patterns = ["_build", "benchmarks/*.md"]
html_theme = "furo"
html_title = f"opticsim {release}"

autosummary_generate = False
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"
napoleon_numpy_docstring = True
napoleon_google_docstring = False
napoleon_use_rtype = False
napoleon_use_param = False         # types are prose ("float, > 0 (m)"), not cross-references

# No network while building (intersphinx would fetch inventories): references into NumPy,
# SciPy, torch, the standard library and typing are left as plain text, and only those.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(np|numpy|scipy|torch|nn|F|concurrent|collections|pathlib|typing|os|io|"
               r"dataclasses|argparse|types|tqdm|matplotlib|distributed|dask|platform)(\..*)?"),
    (r"py:class", r"(Path|Mapping|Sequence|Callable|Iterable|Iterator|Protocol|ClassVar|"
                  r"ArrayLike|NDArray|Generator|Tensor|Module|Parameter|Enum|Any|"
                  r"array-like|array_like|optional|callable|iterable|sequence|mapping|"
                  r"default|float|int|str|bool|complex|tuple|list|dict|None|bytes|object|"
                  r"type|slice|Ellipsis|function|ndarray|dtype)"),
    (r"py:.*", r"(float|int|str|bool|tuple|list|dict|None|bytes|object)(\[.*\])?"),
]

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "gallery",
    # quick examples only (seconds each); the sweeps and the segmentation comparison take
    # tens of seconds to minutes on two cores, so they are shown but not run
    "filename_pattern": r"/(image_4f|convolution_4f|export_slm_mask)\.py$",
    "reset_argv": "opticsim_docs.example_argv",
    "image_scrapers": ("opticsim_docs.run_folder_scraper",),
    "reset_modules": ("matplotlib", "opticsim_docs.example_exit"),
    "reset_modules_order": "both",
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
    "abort_on_example_error": True,
    "plot_gallery": "True",
}
