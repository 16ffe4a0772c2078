"""Sphinx helpers of the opticsim documentation: tables made from the code and the bench JSON
at build time (so the pages cannot drift from them), and the gallery's hooks.

- ``.. preset-table:: KIND``: the presets of one kind (``slm``, ``camera``, ``laser``) with
  their key specifications (:meth:`opticsim.presets.Preset.specs`) and sources.
- ``.. bench-table:: PATH``: the tables of an ``opticsim bench`` JSON (relative to the page):
  per device, the best design per size, the crossover map's break-even contour, the
  assumptions, and the machine it ran on; with ``:designs:`` the best design per size and the
  break-even contour only.
- ``.. bench-figure:: PATH plot|map``: the plot of time and energy against size, or the
  crossover map, drawn from that JSON at build time (:data:`FIGURES`).
- ``.. command-help:: COMMAND``: ``opticsim COMMAND --help`` as the installed parser prints it.
- :func:`napoleon_except_attributes`: napoleon reads numpy sections of functions and classes but
  leaves the docstrings of properties and attributes as written (it would take the words before
  their first colon, "Sample pitch (m) of the Fourier plane: …", for a type).
- :func:`resolve_short_name`: a docstring's ``FourF.run`` or ``lens_ft`` (a name as its module
  sees it) links to the one documented object whose full name ends with it.
- :func:`example_argv` and :func:`run_folder_scraper`: the gallery runs each example with its
  output folder under ``docs/_build/gallery-runs/`` and shows the PNG files it wrote there;
  :func:`example_exit` keeps an example's ``sys.exit(main())`` from ending the build.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import sys
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive, directives
from docutils.statemachine import StringList

RUNS = Path(__file__).resolve().parents[1] / "_build" / "gallery-runs"
FIGURES = Path(__file__).resolve().parents[1] / "_build" / "bench-figures"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    """reST ``list-table`` lines."""
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for row in [header] + rows:
        lines.append("   * - " + (row[0] or "\\ "))
        lines.extend(f"     - {cell or chr(92) + ' '}" for cell in row[1:])
    return lines + [""]


class _Lines(Directive):
    """A directive whose content is reST lines made by :meth:`lines`."""

    def run(self):
        container = nodes.container()
        text = StringList(self.lines(), source=self.state.document.current_source)
        self.state.nested_parse(text, self.content_offset, container)
        return container.children


class PresetTable(_Lines):
    required_arguments = 1

    def lines(self):
        from opticsim import presets

        kind = self.arguments[0]
        names = presets.names(kind)
        specs = [presets.info(name).specs() for name in names]
        header = ["preset", "device", *specs[0], "source"]
        rows = [[f"``{name}``", presets.info(name).description, *spec.values(),
                 presets.info(name).source] for name, spec in zip(names, specs)]
        return _table(header, rows)


def _bench_document(directive) -> tuple[Path, dict]:
    """The bench JSON a directive's first argument names (relative to its page), recorded as
    a dependency of the page."""
    source = Path(directive.state.document.current_source).parent / directive.arguments[0]
    directive.state.document.settings.record_dependencies.add(str(source))
    return source, json.loads(source.read_text())


class BenchTable(_Lines):
    required_arguments = 1
    option_spec = {"designs": directives.flag}

    def lines(self):
        from kd.optical_vs_gpu import break_even_rows, design_rows, markdown_rows

        _, document = _bench_document(self)
        env = document["environment"]
        packages = env["packages"]
        lines = [f"Measured on {env['cpu']['logical_cores']} CPUs ({env['cpu']['model']}), "
                 f"{env['platform']}, Python {packages['python']}, torch {packages['torch']}, "
                 f"opticsim {packages['opticsim']}, device {env['device']}, with "
                 f"``{document['command']}``.", ""]
        designs = ["**Best design per size**", "", *_table(*design_rows(document)),
                   "**Break-even contour of the crossover map**", "",
                   *_table(*break_even_rows(document))]
        if "designs" in self.options:
            return lines + designs
        for device, (header, rows, footer) in markdown_rows(document).items():
            how = document["devices"][device]["how"]
            lines += [f"**{device}** ({how})", "", *_table(header, rows), footer, ""]
        return lines + designs + ["**Assumptions**", "",
                                  *(f"- {text}" for text in document["assumptions"]), ""]


class BenchFigure(_Lines):
    required_arguments = 2

    def lines(self):
        from kd.optical_vs_gpu import plot, plot_map

        source, document = _bench_document(self)
        kind = self.arguments[1]
        draw = {"plot": plot, "map": plot_map}
        if kind not in draw:
            raise self.error(f"bench-figure draws 'plot' or 'map', not {kind!r}")
        FIGURES.mkdir(parents=True, exist_ok=True)
        target = FIGURES / f"{source.stem}_{kind}.png"
        target.write_bytes(draw[kind](document))
        return [f".. image:: /_build/bench-figures/{target.name}", "   :width: 100%", ""]


class CommandHelp(_Lines):
    required_arguments = 1

    def lines(self):
        from opticsim.cli import main

        text = io.StringIO()
        with contextlib.redirect_stdout(text):
            main([*self.arguments[0].split(), "--help"])
        return [".. code-block:: text", ""] + ["   " + line
                                               for line in text.getvalue().splitlines()]


def example_argv(gallery_conf, script_vars) -> list[str]:
    """Command-line arguments of an executed example: its output in a fresh folder under
    :data:`RUNS` (``image_4f.py`` takes the PNG path)."""
    name = Path(script_vars["src_file"]).stem
    out = RUNS / name
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    return [str(out / "image_4f.png")] if name == "image_4f" else ["--out", str(out)]


def run_folder_scraper(block, block_vars, gallery_conf) -> str:
    """Shows the PNG files an example wrote into its folder under :data:`RUNS`."""
    from sphinx_gallery.scrapers import figure_rst

    written = sorted((RUNS / Path(block_vars["src_file"]).stem).rglob("*.png"))
    images = []
    for png, target in zip(written, block_vars["image_path_iterator"]):
        shutil.copyfile(png, target)
        images.append(target)
    return figure_rst(images, gallery_conf["src_dir"])


_EXIT = sys.exit


def _exit_in_gallery(status=None):
    """``sys.exit`` while an example runs inside the build: success returns (an example's
    ``if __name__ == "__main__": sys.exit(main())`` ends there anyway, and a SystemExit would end
    the whole build with status 0, the pages half made); a failure raises, failing the example
    and, with ``abort_on_example_error``, the build."""
    if status not in (None, 0):
        raise RuntimeError(f"the example exited with status {status!r}")


def example_exit(gallery_conf, fname, when) -> None:
    """sphinx-gallery ``reset_modules`` hook (order ``both``): :func:`_exit_in_gallery` replaces
    ``sys.exit`` before each example and the real one is put back after it."""
    sys.exit = _exit_in_gallery if when == "before" else _EXIT


def resolve_short_name(app, env, node, contnode):
    """``missing-reference`` handler: a Python reference that no scope resolved links to the
    documented object whose dotted name ends with it, when exactly one does (a docstring names
    ``FourF.run`` where the class is documented as ``opticsim.FourF``); otherwise the reference
    stays broken and ``-n`` reports it."""
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"].lstrip(".~")
    domain = env.get_domain("py")
    found = {(entry.docname, entry.node_id): name for name, entry in domain.objects.items()
             if name == target or name.endswith("." + target)}   # an alias is the same place
    if len(found) != 1:
        return None
    from sphinx.util.nodes import make_refnode

    (docname, node_id), name = found.popitem()
    return make_refnode(app.builder, node["refdoc"], docname, node_id, contnode, name)


def napoleon_except_attributes(app) -> None:
    """Let napoleon's ``autodoc-process-docstring`` listener (loaded before this extension)
    skip properties, attributes and data."""
    from sphinx.ext.napoleon import _process_docstring

    def process(app, what, name, obj, options, lines):
        if what not in ("attribute", "property", "data"):
            _process_docstring(app, what, name, obj, options, lines)

    listeners = app.events.listeners["autodoc-process-docstring"]
    napoleon = [i for i, listener in enumerate(listeners)
                if listener.handler is _process_docstring]
    if len(napoleon) != 1:
        raise RuntimeError("load sphinx.ext.napoleon before opticsim_docs")
    listeners[napoleon[0]] = listeners[napoleon[0]]._replace(handler=process)


def setup(app):
    napoleon_except_attributes(app)
    app.connect("missing-reference", resolve_short_name)
    app.add_directive("preset-table", PresetTable)
    app.add_directive("bench-table", BenchTable)
    app.add_directive("bench-figure", BenchFigure)
    app.add_directive("command-help", CommandHelp)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
