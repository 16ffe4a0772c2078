"""Device presets: each builds, matches its sources' values, cites its source, can be changed."""

import math
import pickle
import warnings

import pytest

from opticsim import Camera, Laser, SLM, presets
from opticsim.processor import Processor

ALL = [(kind, name) for kind, listed in presets.names().items() for name in listed]
BUILD = {"slm": presets.slm, "camera": presets.camera, "laser": presets.laser,
         "processor": presets.processor}
TYPES = {"slm": SLM, "camera": Camera, "laser": Laser, "processor": Processor}

# values read off the presets' sources (docs/hardware.rst; pixels as width×height)
TABLE = [
    ("pluto-2.1", dict(shape=(1080, 1920), pitch=8.0e-6, bits=8, fill_factor=0.93,
                       frame_rate=60.0, mode="phase")),
    ("gaea-2", dict(shape=(2160, 3840), pitch=3.74e-6, bits=8, mode="phase")),
    ("meadowlark-1920x1152", dict(shape=(1152, 1920), pitch=9.2e-6, fill_factor=0.956,
                                  mode="phase")),
    ("santec-slm-200", dict(shape=(1200, 1920), pitch=8e-6, bits=10, mode="phase")),
    ("hamamatsu-x15213", dict(shape=(1024, 1272), pitch=12.5e-6, bits=8, fill_factor=0.96,
                              phase_range=2 * math.pi)),
    ("dlp9000", dict(shape=(1600, 2560), pitch=7.56e-6, mode="binary", bits=1)),
    ("dlp9000x", dict(shape=(1600, 2560), pitch=7.56e-6, mode="binary", frame_rate=15e3)),
    ("dlp7000", dict(shape=(768, 1024), pitch=13.68e-6, mode="binary", frame_rate=32552.0)),
    ("imx250", dict(shape=(2056, 2464), pitch=(3.45e-6, 3.45e-6), full_well=10_700.0,
                    bits=12, read_noise=2.3)),
    ("orca-flash4.0-v2", dict(shape=(2048, 2048), pitch=(6.5e-6, 6.5e-6), qe=0.82, bits=16,
                              full_well=30_000.0, frame_rate=100.0)),
    ("pco-edge-4.2-lt", dict(shape=(2048, 2048), pitch=(6.5e-6, 6.5e-6), qe=0.82,
                             read_noise=0.8, bits=16, frame_rate=40.0)),
    ("phantom-v2640", dict(shape=(1952, 2048), pitch=(13.5e-6, 13.5e-6), bits=12,
                           frame_rate=6600.0)),
    ("emva1288-sim", dict(gain=0.1, full_well=15_000.0, bits=8)),
    ("a100-sxm4-80gb", dict(peak_flops=19.5e12, bandwidth=2039e9, precision="fp32")),
    ("h100-sxm5-80gb", dict(peak_flops=67e12, bandwidth=3.35e12)),
    ("rtx-4090", dict(peak_flops=82.6e12, bandwidth=1008e9)),
    ("jetson-agx-orin-64gb", dict(peak_flops=5.3248e12, bandwidth=204.8e9)),
    ("dpss-532", dict(wavelength=532e-9)),
    ("hene-633", dict(wavelength=632.8e-9)),
]


@pytest.mark.parametrize("kind, name", ALL)
def test_every_preset_builds_quietly_and_cites_its_source(kind, name):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        device = BUILD[kind](name)
    assert isinstance(device, TYPES[kind])
    record = presets.info(name)
    assert record.kind == kind and record.name == name
    assert len(record.source) > 10
    assert set(record.unverified) <= set(record.values)
    copied = pickle.loads(pickle.dumps(record))        # process pools and Dask pickle these
    assert repr(copied) == repr(record) and dict(copied.values) == dict(record.values)


def test_registry_covers_the_brief_and_the_table_values_match():
    assert {name for name, _ in TABLE} == {name for _, name in ALL}
    for name, expected in TABLE:
        kind = presets.info(name).kind
        device = BUILD[kind](name)
        for field, value in expected.items():
            assert getattr(device, field) == value, (name, field)


def test_pluto_phase_stroke_follows_the_panel_data_and_scales_as_one_over_wavelength():
    pluto = presets.slm("pluto")
    assert pluto.phase_stroke(633e-9) == pytest.approx(5.2 * math.pi, rel=1e-12)
    assert pluto.phase_stroke(530e-9) == pytest.approx(6.9 * math.pi, rel=1e-12)
    # outside the measured band the retardance δλ/2π is held (Δn dispersion neglected)
    assert pluto.phase_stroke(1064e-9) == pytest.approx(5.2 * math.pi * 633 / 1064, rel=1e-12)
    assert pluto.phase_stroke(450e-9) == pytest.approx(6.9 * math.pi * 530 / 450, rel=1e-12)
    # inside it the retardance moves linearly in 1/λ between the two measured values
    middle = 2 / (1 / 530e-9 + 1 / 633e-9)
    retardance = pluto.phase_stroke(middle) * middle / (2 * math.pi)
    ends = (6.9 * 530e-9 / 2, 5.2 * 633e-9 / 2)
    assert retardance == pytest.approx(sum(ends) / 2, rel=1e-12)
    # and the SLM's linear LUT uses it: the top gray level at 633 nm is 255/256 of 5.2π
    top = presets.slm("pluto", crosstalk=0).displayed([[255]], 633e-9)[0, 0]
    assert math.remainder(math.atan2(top.imag, top.real) - 255 / 256 * 5.2 * math.pi,
                          2 * math.pi) == pytest.approx(0, abs=1e-9)


def test_imx250_reproduces_its_emva1288_datasheet_figures():
    """SNRmax 40.3 dB and dynamic range 71.2 dB follow from full well, read noise and K."""
    imx250 = presets.camera("imx250")
    assert imx250.gain * imx250.full_well == pytest.approx(4095)
    assert 20 * math.log10(imx250.snr_max) == pytest.approx(40.3, abs=0.05)
    assert 20 * math.log10(imx250.dynamic_range) == pytest.approx(71.2, abs=0.2)


def test_emva1288_simulator_preset_has_its_dark_noise_and_8_bit_adc():
    sim = presets.camera("emva1288")
    assert sim.read_noise ** 2 == pytest.approx(10.0)
    assert sim.max_level == 255
    assert sim.pitch[0] * sim.pitch[1] == pytest.approx(25e-12)


def test_overrides_replace_one_field_and_keep_the_rest():
    base, changed = presets.camera("imx250"), presets.camera("imx250", exposure=2e-3)
    assert changed.exposure == 2e-3 and base.exposure == 1e-3
    assert (changed.full_well, changed.gain, changed.shape) == (base.full_well, base.gain,
                                                                base.shape)
    slm = presets.slm("Pluto-2.1", bits=10, phase_range=2 * math.pi)
    assert slm.bits == 10 and slm.phase_stroke() == 2 * math.pi and slm.pitch == 8e-6
    assert presets.laser("532nm", power=2e-3).power == 2e-3
    with pytest.raises(ValueError, match="exposur"):
        presets.camera("imx250", exposur=1e-3)
    with pytest.raises(ValueError, match="exposure"):
        presets.camera("imx250", exposure=-1.0)


def test_lookup_is_case_insensitive_with_aliases():
    pluto = presets.info("pluto-2.1")
    for alias in ("PLUTO", "Holoeye PLUTO-2.1", "pluto_2.1", " pluto-2.1 "):
        assert presets.info(alias) is pluto
    for record in (presets.info(name) for _, name in ALL):
        for alias in record.aliases:
            assert presets.info(alias.upper()) is record


def test_unknown_or_wrong_kind_names_raise_with_the_known_names():
    with pytest.raises(ValueError, match=r"unknown preset 'slm-9000'.*pluto-2\.1.*imx250"):
        presets.slm("slm-9000")
    with pytest.raises(ValueError, match=r"camera preset.*dlp9000"):
        presets.slm("imx250")
    with pytest.raises(ValueError, match="kind"):
        presets.names("lens")
    assert presets.names("laser") == ("dpss-532", "hene-633")


def test_electrical_power_is_a_record_field_never_a_constructor_value():
    record = presets.info("meadowlark")
    assert record.electrical_power == 10.0
    assert "unverified" in record.assumptions["electrical_power"]
    assert "electrical_power" not in record.values       # the SLM takes no supply power
    with pytest.raises(ValueError, match="electrical_power"):
        presets.Preset("x", "laser", "a laser", {"wavelength": 5e-7, "power": 1e-3},
                       source="a datasheet", electrical_power=-1.0)
    with pytest.raises(ValueError, match="electrical_power"):
        presets.Preset("x", "laser", "a laser", {"wavelength": 5e-7, "electrical_power": 1.0},
                       source="a datasheet")
