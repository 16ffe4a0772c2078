"""The command line's shared conventions: one list syntax for every list option (commas,
spaces or both), help and a default on every option, ``opticsim presets``, and one set of KD
defaults across kd and the CLI."""

import argparse
import dataclasses
import inspect
import re

import pytest

from kd.experiment import PRESETS, Experiment
from kd.hardware import fine_tune
from kd.losses import kd_loss
from kd.train import Settings
from opticsim import presets
from opticsim.cli import main, parser
from opticsim.cli.experiment import experiment


@pytest.mark.parametrize("command, option, default", [
    (["train"], "--channels", Experiment().channels),
    (["train"], "--teacher-channels", Experiment().teacher_channels),
    (["demo"], "--hidden", Experiment().hidden),
    (["train"], "--seeds", (0, 1, 2)),
    (["bench"], "--sizes", (32, 64, 128, 256, 512, 1024, 2048, 4096)),
])
def test_list_options_take_commas_spaces_or_both(command, option, default):
    dest = option[2:].replace("-", "_")
    read = [getattr(parser().parse_args([*command, option, *words]), dest)
            for words in (["8,16,16"], ["8", "16", "16"], ["8,16", "16"])]
    assert read == [(8, 16, 16)] * 3
    options = parser().parse_args(command)
    if any(dest in values for values in PRESETS.values()):    # None until given: the preset's
        assert getattr(options, dest) is None                  # or else the experiment's
        options = experiment(options, 0)
    assert getattr(options, dest) == tuple(default)


def test_presets_lists_every_preset_with_specs_and_source(capsys):
    assert main(["presets"]) == 0
    text = capsys.readouterr().out
    for kind, names in presets.names().items():
        for name in names:
            record = presets.info(name)
            assert f"  {name} " in text and record.source in text
            assert all(value in text for value in record.specs().values())
    assert "pixels 1920×1152, pitch 9.2 µm*" in text              # unverified pitch marked
    assert main(["presets", "--kind", "laser"]) == 0
    lasers = capsys.readouterr().out
    assert "dpss-532" in lasers and "cameras:" not in lasers and "SLMs:" not in lasers


def test_presets_shows_one_preset_in_full(capsys):
    assert main(["presets", "Meadowlark"]) == 0                   # an alias, any case
    text = capsys.readouterr().out
    assert text.startswith("meadowlark-1920x1152 (slm)")
    assert "pitch = 9.2e-06 (unverified)" in text and "assumed frame_rate:" in text
    assert main(["presets", "no-such-device"]) == 1
    assert capsys.readouterr().err.startswith("opticsim presets: error: unknown preset")


def test_kd_defaults_agree_everywhere():
    """kd_loss, the training settings, fine-tuning, the experiment and the CLI: one T and α."""
    def default(function, name):
        return inspect.signature(function).parameters[name].default

    fields = {f.name: f.default for f in dataclasses.fields(Settings)}
    options = parser().parse_args(["demo"])
    for name in ("temperature", "alpha"):
        values = {default(kd_loss, name), default(fine_tune, name), fields[name],
                  getattr(Experiment(), name), getattr(experiment(options, 0), name)}
        assert values == {dict(temperature=1.0, alpha=0.5)[name]}


COMMANDS = ("demo", "train", "eval", "sweep", "export", "bench", "presets")


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_says_what_it_does_and_its_default(command):
    """Each option's help line (as printed) says what it does and, unless it is a flag or
    required, its default."""
    root = parser()
    sub = next(action for action in root._actions
               if isinstance(action, argparse._SubParsersAction)).choices[command]
    text = sub.format_help().split("\n\n", 1)[1]             # the option list, not the usage
    for action in sub._actions:
        if not action.option_strings or action.dest == "help":
            continue
        assert action.help, f"{command} {action.option_strings[0]} has no help"
        if action.nargs == 0 or action.required:
            continue
        entry = re.search(r"^  (?=-)[^\n]*?" + re.escape(action.option_strings[-1])
                          + r"\b[^\n]*\n(?: {10,}[^\n]*\n)*", text, re.M)
        assert entry and "default" in entry.group(0), \
            f"{command} {action.option_strings[-1]}: no default in {entry and entry.group(0)!r}"
