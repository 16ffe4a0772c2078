"""The README's Python examples run as shown, without a SamplingWarning."""

import re
import warnings
from pathlib import Path

import pytest

from opticsim import SamplingWarning

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_readme_has_examples():
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index):
    with warnings.catch_warnings():
        warnings.simplefilter("error", SamplingWarning)
        exec(compile(BLOCKS[index], f"README.md block {index}", "exec"), {})
