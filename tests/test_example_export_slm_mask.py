"""``examples/export_slm_mask.py``: the exported file, re-simulated, gives the frames of the mask
in memory, and the run folder holds what it promises."""

import importlib.util
import json
from pathlib import Path

from opticsim.export import load_mask

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "export_slm_mask.py"
_spec = importlib.util.spec_from_file_location("export_slm_mask", EXAMPLE)
_example = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_example)


def test_the_example_exports_reloads_and_resimulates_the_mask(tmp_path):
    folder = tmp_path / "run"
    assert _example.main(["--out", str(folder), "--carrier", "12", "inf"]) == 0
    results = json.loads((folder / "results.json").read_text())
    assert sorted(p.name for p in folder.iterdir()) == sorted(results["files"])
    assert results["identical"] and results["peak_irradiance"] > 0
    gray, meta = load_mask(folder / "mask.png")
    assert gray.shape == (1152, 1920) and meta["carrier"]["period"] == [12.0, None]
    assert (folder / "export_slm_mask.png").read_bytes().startswith(b"\x89PNG")
