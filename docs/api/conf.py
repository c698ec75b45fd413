"""Sphinx configuration of molvae's API reference (built from the docstrings).

Build: pip install -c constraints.txt -e ".[docs]" && sphinx-build -W -b html docs/api docs/api/_build
"""

project = "molvae"
author = "molvae developers"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.intersphinx"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": False}
autodoc_mock_imports = []
napoleon_google_docstring = True
napoleon_numpy_docstring = False
nitpicky = False
html_theme = "alabaster"
exclude_patterns = ["_build"]
suppress_warnings = ["autodoc.import_object"]
