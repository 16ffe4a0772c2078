"""The Python examples of the README and of the documentation's pages run as shown, without a
SamplingWarning; the README and the pages cite no document the project lacks."""

import re
import textwrap
import warnings
from pathlib import Path

import pytest

from opticsim import SamplingWarning

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").glob("*.rst"))


def _blocks() -> list[tuple[str, str]]:
    found = [(f"README.md block {i}", block) for i, block in enumerate(
        re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S))]
    for page in PAGES:
        blocks = re.findall(r"^\.\. code-block:: python\n\n((?:[ ]{3}.*\n|\n)+)",
                            page.read_text(encoding="utf-8"), re.M)
        found += [(f"docs/{page.name} block {i}", textwrap.dedent(block))
                  for i, block in enumerate(blocks)]
    return found


BLOCKS = _blocks()


def test_readme_and_pages_have_examples():
    names = [name for name, _ in BLOCKS]
    assert sum(name.startswith("README") for name in names) >= 3
    assert {"docs/quickstart.rst", "docs/hardware.rst", "docs/torch.rst", "docs/export.rst",
            "docs/sweeps.rst"} <= {name.split(" block")[0] for name in names}


@pytest.mark.parametrize("name, code", BLOCKS, ids=[name for name, _ in BLOCKS])
def test_example_runs(name, code):
    with warnings.catch_warnings():
        warnings.simplefilter("error", SamplingWarning)
        exec(compile(code, name, "exec"), {})


def test_links_point_at_files_that_exist():
    text = README.read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#]+)\)", text)
    assert targets and all((ROOT / target).is_file() for target in targets
                           if not target.startswith("http"))
    for document in [README, *PAGES]:
        body = document.read_text(encoding="utf-8")
        assert not re.search(r"DESIGN\.md|reference/|\.\./shared", body), document.name
