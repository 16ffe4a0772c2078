"""Bad and edge inputs, class by class (issue 10): no silent wrong result, every error names
its argument, no argument silently ignored, empty batches, and one-line CLI errors."""

import errno
import os
import stat
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from opticsim import Camera, Field, FourF, Laser, Lens, SLM, SamplingWarning, propagate
from opticsim.checks import ArgumentTypeError
from opticsim.cli import main
from opticsim.files import differences, prepare_folder, read_json, write_atomic
from opticsim.torch import (CameraResponse, Optical4fConv, kernel_from_mask, mask_from_kernel,
                            masks_from_kernels)
from tolerances import fft_rounding

WAVELENGTH = 633e-9
PITCH = 8e-6
SHAPE = (32, 32)


def _fourf(**elements) -> FourF:
    laser = elements.pop("laser", Laser(WAVELENGTH, 1e-3))
    return FourF(laser, Lens(0.1), Lens(0.1), shape=SHAPE, pitch=PITCH, **elements)


def _camera(**settings) -> Camera:
    return Camera(SHAPE, PITCH, **{"exposure": 1e-3, **settings})


def _field() -> Field:
    return Field(np.ones((16, 16)), 1e-6, WAVELENGTH)


# --- 1. silent wrong results ----------------------------------------------------------------


@pytest.mark.parametrize("images", [
    np.full((8, 8), 255, np.uint8),                 # 8-bit gray levels taken as amplitudes
    np.full((2, 8, 8), 1.5),
    np.full((8, 8), -3.0, np.float32),
    np.pad(np.ones((7, 7)), 1) * 1.0001,
], ids=["uint8", "above-1", "below-minus-1", "just-above-1"])
@pytest.mark.parametrize("entry", ["run", "field", "input_field"])
def test_images_beyond_unit_transmittance_are_refused_without_an_input_slm(images, entry):
    system = _fourf()
    call = {"run": lambda: system.run(images, np.ones(SHAPE)),
            "field": lambda: system.field(images, np.ones(SHAPE)),
            "input_field": lambda: system.input_field(images)}[entry]
    with pytest.raises(ValueError, match=r"images must be amplitude transmittances in \[-1, 1\]"):
        call()


def test_unit_transmittance_images_pass_and_integer_images_equal_their_float_values():
    system = _fourf()
    binary = (np.arange(64).reshape(8, 8) % 3 == 0).astype(np.uint8)
    np.testing.assert_array_equal(system.run(binary, np.ones(SHAPE)),
                                  system.run(binary.astype(np.float64), np.ones(SHAPE)))
    # a ±1 image through an all-pass mask: the irradiance of the beam, P/(N·dx)², where lit
    flat = system.upright(system.run(-np.ones(SHAPE), np.ones(SHAPE)))
    # two complex64 FFTs (ε·log2 N each), doubled by |E|²
    np.testing.assert_allclose(flat, 1e-3 / (SHAPE[0] * PITCH) ** 2,
                               rtol=4 * fft_rounding(np.complex64, SHAPE[0] * SHAPE[1]))


def test_the_amplitude_input_slm_and_the_torch_layer_refuse_what_the_ideal_input_refuses():
    slm = SLM(SHAPE, PITCH, mode="amplitude")
    with pytest.raises(ValueError, match=r"amplitudes in \[0, 1\]"):
        _fourf(input_slm=slm).run(np.full((8, 8), 255, np.uint8), np.ones(SHAPE))
    layer = Optical4fConv(_fourf(), 1, 1, 3, image_shape=(8, 8))
    with pytest.raises(ValueError, match="images must be real floating point"):
        layer(torch.full((1, 1, 8, 8), 255, dtype=torch.uint8))


def _saturated(camera: Camera) -> float:
    """DN of a pixel past its full well: rint(K·full_well + offset), clipped by the ADC."""
    return min(np.rint(camera.gain * camera.full_well + camera.offset), camera.max_level)


@pytest.mark.parametrize("irradiance", [1e6, 1e30, 1e300, np.finfo(np.float64).max])
@pytest.mark.parametrize("settings", [{}, {"gain": 2.0, "bits": 10}, {"offset": 50.0}],
                         ids=["full-well", "adc-clips-first", "black-level"])
def test_a_pixel_past_its_full_well_reads_the_saturated_level_whatever_the_overflow(
        irradiance, settings):
    camera = _camera(**settings)
    light = np.full((2,) + SHAPE, irradiance)
    for frames in (camera.capture_irradiance(light, PITCH, WAVELENGTH, rng=0),
                   camera.capture_irradiance(light, PITCH, WAVELENGTH, noise=False)):
        assert np.all(frames == _saturated(camera))


@pytest.mark.parametrize("irradiance", [1e6, 1e22, 1e30, 3e38])
@pytest.mark.parametrize("shot", ["poisson", "gaussian"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_torch_camera_saturates_as_the_engine_does(irradiance, shot, dtype):
    camera = _camera(offset=20.0)
    response = CameraResponse(camera, SHAPE, PITCH, WAVELENGTH, shot)
    light = torch.full((2,) + SHAPE, irradiance, dtype=dtype)
    for noise in (True, False):
        frames = response(light, noise, torch.Generator().manual_seed(0) if noise else None)
        assert torch.all(frames == _saturated(camera))


def test_an_absurdly_bright_laser_saturates_every_pixel_of_the_frame():
    # 1e27 W on the grid: ~1e34 W/m², μ > 1e39 e⁻ per pixel, beyond float32 (3.4e38)
    system = _fourf(laser=Laser(WAVELENGTH, 1e27), camera=_camera())
    frames = system.run(np.ones(SHAPE), np.ones(SHAPE), rng=0)
    assert np.all(frames == _saturated(system.camera))


@pytest.mark.parametrize("data,dtype", [
    (np.full((4, 4), 1e300), None),                 # finite float64, inf in complex64
    (np.full((4, 4), 3.5e38), None),
    (np.full((4, 4), 2e19 + 0j), np.complex64),    # |E|² overflows float32
    (np.full((4, 4), 1e300), np.complex128),        # |E|² overflows float64
])
def test_samples_that_overflow_the_field_precision_are_refused(data, dtype):
    data = data if dtype is None else data.astype(dtype)
    with pytest.raises(ValueError, match="data overflows"):
        Field(data, 1e-6, WAVELENGTH)


def test_samples_within_range_and_non_finite_samples_get_their_own_answers():
    assert Field(np.full((4, 4), 1e20 + 0j), 1e-6, WAVELENGTH).data.dtype == np.complex128
    for bad in (np.nan, np.inf):
        data = np.ones((4, 4))
        data[1, 2] = bad
        with pytest.raises(ValueError, match="data contains NaN or infinite samples"):
            Field(data, 1e-6, WAVELENGTH)


@pytest.mark.parametrize("build", [
    lambda: Laser(WAVELENGTH, 1e300).field(SHAPE, PITCH),
    lambda: Laser(WAVELENGTH, 1e306).field(SHAPE, PITCH, np.complex128),
    lambda: _fourf(laser=Laser(WAVELENGTH, 1e300)),
], ids=["field", "field-complex128", "fourf"])
def test_a_laser_whose_field_overflows_is_refused(build):
    with pytest.raises(ValueError, match=r"power=1e\+30\d W overflows"):
        build()


@pytest.mark.parametrize("waist", [1e-200, 1e-9])
def test_a_vanishing_waist_warns_and_puts_the_whole_power_on_the_axis_sample(waist):
    with pytest.warns(SamplingWarning, match="waist"):
        field = Laser(WAVELENGTH, 2e-3, "gaussian", waist).field((9, 9), 1e-6, np.complex128)
    assert field.power == pytest.approx(2e-3, rel=1e-12)
    assert np.count_nonzero(field.data) == 1 and field.data[4, 4] != 0


def _layer(**options) -> Optical4fConv:
    return Optical4fConv(_fourf(), 1, 2, 3, image_shape=(8, 8), mask="complex", **options)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_set_kernels_refuses_non_finite_kernels_and_keeps_its_parameters(bad):
    layer = _layer()
    kernels = np.random.default_rng(0).standard_normal((2, 1, 3, 3))
    layer.set_kernels(kernels)
    before = [p.detach().clone() for p in layer.parameters()]
    kernels[1, 0, 2, 1] = bad
    for given in (kernels, torch.as_tensor(kernels, dtype=torch.float32)):
        with pytest.raises(ValueError, match="kernels contains NaN or infinite samples"):
            layer.set_kernels(given)
    for old, new in zip(before, layer.parameters()):
        assert torch.equal(old, new)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_the_kernel_and_mask_helpers_refuse_non_finite_input(bad):
    system = _fourf()
    kernel = np.ones((3, 3))
    kernel[0, 0] = bad
    mask = np.ones(SHAPE, complex)
    mask[5, 7] = bad
    layout = system.layout(1, 1, (8, 8), (3, 3))
    calls = {
        "kernel": [lambda: system.mask_from_kernel(kernel),
                   lambda: mask_from_kernel(system, torch.as_tensor(kernel))],
        "kernels": [lambda: system.masks_from_kernels(kernel[None, None], layout)],
        "mask": [lambda: system.kernel_from_mask(mask),
                 lambda: kernel_from_mask(system, torch.as_tensor(mask))],
    }
    calls["kernel"].append(lambda: masks_from_kernels(system, torch.as_tensor(kernel)[None, None],
                                                      layout))
    for name, functions in calls.items():
        for function in functions:
            with pytest.raises(ValueError, match=f"^{name} contains NaN or infinite samples"):
                function()


def test_the_torch_layer_passes_nan_through_as_conv2d_does():
    layer = _layer()
    images = torch.rand(2, 1, 8, 8)
    images[1, 0, 3, 3] = float("nan")
    frames = layer(images)
    reference = torch.nn.functional.conv2d(images, torch.ones(1, 1, 3, 3), padding=2)
    assert torch.isfinite(frames[0]).all() and torch.isfinite(reference[0]).all()
    assert torch.isnan(frames[1]).any() and torch.isnan(reference[1]).any()


# --- 2. errors that name the argument -------------------------------------------------------


@pytest.mark.parametrize("call", [
    lambda f: propagate.lens_ft(f, 0.1),
    lambda f: propagate.angular_spectrum(f, 1e-3),
    lambda f: propagate.fresnel(f, 1e-3),
    lambda f: propagate.critical_distance(f),
    lambda f: Lens(0.1, 1e-3).apply_pupil(f),
    lambda f: Lens(0.1).apply(f),
    lambda f: Lens(0.1).fourier(f),
    lambda f: SLM((8, 8), 1e-6).modulate(f, np.zeros((8, 8), np.uint8)),
    lambda f: Camera((8, 8), 2e-6, exposure=1e-3).capture(f, rng=0),
    lambda f: Camera((8, 8), 2e-6, exposure=1e-3).photons(f),
    lambda f: Camera((8, 8), 2e-6, exposure=1e-3).irradiance_to_electrons(f),
])
@pytest.mark.parametrize("plain", [np.ones((16, 16), complex), [[1.0, 2.0], [3.0, 4.0]], None])
def test_a_plain_array_where_a_field_is_needed_is_a_type_error_naming_field(call, plain):
    with pytest.raises(TypeError, match="field must be an opticsim.Field, got"):
        call(plain)


@pytest.mark.parametrize("rng,error", [
    ("abc", TypeError), (1.5, TypeError), (True, TypeError), ([1, 2], TypeError),
    (-1, ValueError), (np.int64(-3), ValueError)])
def test_a_bad_rng_names_rng_and_what_is_allowed(rng, error):
    system = _fourf(camera=_camera())
    with pytest.raises(error, match="rng must be None, an integer seed >= 0 or a numpy"):
        system.run(np.ones((8, 8)) / 2, np.ones(SHAPE), rng=rng)
    with pytest.raises(error, match="rng must be"):
        system.camera.capture(_field(), rng=rng)


def test_an_int_seed_and_a_generator_seeded_alike_give_the_same_frames():
    system = _fourf(camera=_camera())
    images = np.random.default_rng(1).random((2, 8, 8))
    np.testing.assert_array_equal(
        system.run(images, np.ones(SHAPE), rng=np.int64(7)),
        system.run(images, np.ones(SHAPE), rng=np.random.default_rng(7)))


@pytest.mark.parametrize("zernike,error,match", [
    ([0.1], TypeError, r"zernike must be a dict \{noll_index: waves RMS\} or None, got list"),
    ((4, 0.1), TypeError, "zernike must be a dict"),
    ({4: "a"}, TypeError, r"zernike\[4\] must be a finite real number \(waves RMS\)"),
    ({4: None}, TypeError, r"zernike\[4\] must be"),
    ({4: 1j}, TypeError, r"zernike\[4\] must be"),
    ({4: True}, TypeError, r"zernike\[4\] must be"),
    ({4: np.nan}, ValueError, r"zernike\[4\] must be a finite real number"),
    ({"4": 0.1}, TypeError, r"zernike keys \(Noll indices\) must be an integer"),
    ({0: 0.1}, ValueError, r"zernike keys \(Noll indices\) must be an integer >= 1"),
    ({4.0: 0.1}, TypeError, "zernike keys"),
])
def test_zernike_coefficients_of_the_wrong_type_name_the_term(zernike, error, match):
    with pytest.raises(error, match=match):
        Lens(0.1, 1e-3, zernike=zernike)


def test_zernike_given_as_numpy_numbers_is_the_same_lens():
    plain = Lens(0.1, 1e-3, zernike={4: 0.1, 11: -0.05})
    numpy = Lens(0.1, 1e-3, zernike={np.int64(4): np.float32(0.1), np.int16(11): -0.05})
    # complex64 pupils, each rounded by u = ε/2; float32(0.1) lies 1.5e-9 from 0.1, which
    # moves the defocus phase by at most 2π·1.5e-9·√3 < ε
    np.testing.assert_allclose(numpy.pupil((16, 16), 1e-4), plain.pupil((16, 16), 1e-4),
                               rtol=4 * np.finfo(np.float32).eps)


@pytest.mark.parametrize("data", [
    np.array([["a", "b"], ["c", "d"]]), np.array([[None, 1], [1, 1]]),
    np.array([[{}, {}], [{}, {}]]), np.zeros((2, 2), "datetime64[s]")],
    ids=["str", "object", "dict", "datetime"])
def test_non_numeric_data_is_a_type_error_naming_the_array(data):
    with pytest.raises(TypeError, match="data must be an array of numbers, got dtype"):
        Field(data, 1e-6, WAVELENGTH)
    system = _fourf()
    with pytest.raises(TypeError, match="images must be an array of numbers"):
        system.run(data, np.ones(SHAPE))
    with pytest.raises(TypeError, match="mask must be an array of numbers"):
        system.run(np.ones((2, 2)) / 2, np.broadcast_to(data.flat[0], SHAPE))


@pytest.mark.parametrize("value", [True, False, np.bool_(True), "5e-7", np.complex128(5e-7)])
@pytest.mark.parametrize("build,name", [
    (lambda v: Field(np.ones((2, 2)), 1e-6, v), "wavelength"),
    (lambda v: Laser(v, 1e-3), "wavelength"),
    (lambda v: Laser(WAVELENGTH, v), "power"),
    (lambda v: Lens(v), "focal_length"),
    (lambda v: Camera((4, 4), 1e-6, exposure=v), "exposure"),
    (lambda v: SLM((4, 4), v), "pitch"),
    (lambda v: propagate.fresnel(Field(np.ones((8, 8)), 1e-6, WAVELENGTH), v), "distance"),
])
def test_a_bool_string_or_complex_scalar_is_a_type_error_naming_the_argument(value, build, name):
    with pytest.raises(TypeError, match=f"^{name} must be a finite number > 0, got"):
        build(value)


def test_the_type_errors_are_value_errors_too_for_code_that_caught_those():
    with pytest.raises(ValueError):
        Laser(True, 1e-3)
    assert issubclass(ArgumentTypeError, TypeError) and issubclass(ArgumentTypeError, ValueError)


@pytest.mark.parametrize("distance,match", [
    (1e300, r"in \(0, 1e14·λ\]"), (np.finfo(np.float64).max, r"in \(0, 1e14·λ\]"),
    (1e8, r"in \(0, 1e14·λ\] = \(0, 6.33e\+07\] m"), (10 ** 400, "a finite number > 0")],
    ids=["1e300", "float-max", "1e8", "10**400"])
@pytest.mark.parametrize("propagator", [propagate.angular_spectrum, propagate.fresnel])
def test_a_huge_distance_is_a_value_error_naming_distance(propagator, distance, match):
    with pytest.raises(ValueError, match="^distance must be " + match):
        propagator(_field(), distance)


def test_the_longest_allowed_distance_still_propagates():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)
        out = propagate.angular_spectrum(_field(), 1e14 * WAVELENGTH)
    assert np.isfinite(out.data).all()


# --- 3. ignored arguments -------------------------------------------------------------------


@pytest.mark.parametrize("argument", [{"exposure": 1e-3}, {"rng": 0},
                                      {"rng": np.random.default_rng(0)}])
@pytest.mark.parametrize("elements,why", [({}, "no camera"),
                                          ({"readout": "field"}, "readout=field")])
def test_camera_arguments_without_a_camera_that_takes_the_frame_are_refused(argument, elements,
                                                                            why):
    if elements:
        elements = {**elements, "camera": _camera()}
    system = _fourf(**elements)
    name = next(iter(argument))
    with pytest.raises(ValueError, match=f"{name} applies to the camera.*{why}"):
        system.run(np.ones((8, 8)) / 2, np.ones(SHAPE), **argument)


def test_rng_without_noise_is_refused():
    with pytest.raises(ValueError, match="rng seeds the noise, and noise=False"):
        _camera().capture(_field(), rng=0, noise=False)
    with pytest.raises(ValueError, match="rng seeds the noise"):
        _camera().capture_irradiance(np.ones(SHAPE), PITCH, WAVELENGTH, rng=1, noise=False)


@pytest.mark.parametrize("fourf,hardware", [(lambda: _fourf(), True),
                                            (lambda: _fourf(camera=_camera()), False),
                                            (lambda: _fourf(camera=_camera(), readout="field"),
                                             True)])
def test_eval_noise_without_camera_noise_is_refused(fourf, hardware):
    with pytest.raises(ValueError, match="eval_noise applies to the camera noise"):
        Optical4fConv(fourf(), 1, 1, 3, hardware=hardware, eval_noise=True)


@pytest.mark.parametrize("ratio", [0.99, 0.5, 0.1])
def test_a_gaussian_waist_below_the_pitch_warns(ratio):
    pitch = (1e-6, 2e-6)
    with pytest.warns(SamplingWarning, match="below the grid pitch"):
        Laser(WAVELENGTH, 1e-3, "gaussian", ratio * 2e-6).field((32, 32), pitch)


def test_a_gaussian_waist_above_the_pitch_is_quiet_and_keeps_its_power():
    with warnings.catch_warnings():
        warnings.simplefilter("error", SamplingWarning)
        field = Laser(WAVELENGTH, 1e-3, "gaussian", 2.5e-6).field((32, 32), 2e-6, np.complex128)
    assert field.power == pytest.approx(1e-3, rel=1e-12)


# --- 4. edges -------------------------------------------------------------------------------


@pytest.mark.parametrize("elements", [{}, {"readout": "field"}, {"camera": "camera"}],
                         ids=["intensity", "field", "camera"])
def test_an_empty_batch_through_optical4fconv_is_an_empty_output_as_from_the_engine(elements):
    if "camera" in elements:
        elements = {"camera": _camera()}
    system = _fourf(**elements)
    layer = Optical4fConv(system, 1, 2, 3, image_shape=(8, 8))
    layout = layer.layout((8, 8))
    engine = system.run(np.zeros((0, 1, 8, 8)), np.ones((2,) + SHAPE), layout=layout)
    out = layer(torch.zeros(0, 1, 8, 8))
    assert tuple(out.shape) == engine.shape == (0, 2, 10, 10)
    assert out.is_complex() == np.iscomplexobj(engine)


# --- 5. the command line --------------------------------------------------------------------


def _one_line_error(capsys, command: str) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert lines[0].startswith(f"opticsim {command}: error: ")
    return lines[0]


@pytest.mark.parametrize("argv,command,match", [
    (["demo", "--out", ""], "demo", "--out must be a path, got an empty string"),
    (["train", "--out", ""], "train", "--out must be a path"),
    (["eval", "missing.pt", "--out", ""], "eval", "--out must be a path"),
    (["demo", "--data-root", "", "--out", "x"], "demo", "--data-root must be a path"),
])
def test_an_empty_path_is_a_one_line_error(argv, command, match, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 1
    assert match in _one_line_error(capsys, command)
    assert list(tmp_path.iterdir()) == []          # nothing created, no default folder used


@pytest.mark.parametrize("argv,command,match", [
    (["train", "--seeds"], "train", "argument --seeds: expected at least one argument"),
    (["demo", "--epochs", "x"], "demo", "argument --epochs: invalid int value: 'x'"),
    (["eval"], "eval", "the following arguments are required: checkpoint"),
])
def test_a_usage_error_is_one_line_with_exit_code_2(argv, command, match, capsys):
    assert main(argv) == 2
    line = _one_line_error(capsys, command)
    assert match in line and line.endswith(f"(see opticsim {command} --help)")


def test_a_file_where_a_folder_is_needed_is_a_one_line_error(capsys, tmp_path):
    file = tmp_path / "a-file"
    file.write_text("keep")
    for out in (file / "run", file / "deeper" / "run"):
        assert main(["demo", "--out", str(out)]) == 1
        line = _one_line_error(capsys, "demo")
        assert "Not a directory" in line and str(file) in line
    assert file.read_text() == "keep"


def test_a_folder_without_permission_is_a_one_line_error(capsys, tmp_path, monkeypatch):
    def refuse(self, *args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)     # as for a user without write permission
    target = tmp_path / "locked" / "run"
    # train makes its --out with the first seed's folder, once that seed's data have loaded
    for command, made in (("demo", target), ("train", target / "seed-0")):
        assert main([command, "--out", str(target)]) == 1
        line = _one_line_error(capsys, command)
        assert line.endswith(f"{made}: Permission denied")


def test_writing_over_a_folder_names_the_folder_not_a_temporary_file(tmp_path):
    folder = tmp_path / "results.json"
    folder.mkdir()
    with pytest.raises(IsADirectoryError) as raised:
        write_atomic(folder, b"{}")
    assert Path(raised.value.filename2 or raised.value.filename) == folder
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]   # no temporary left


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077, 0o002])
def test_run_folders_and_files_get_the_users_umask(tmp_path, umask):
    previous = os.umask(umask)
    try:
        folder = prepare_folder(tmp_path / "run" / "seed-0")
        write_atomic(folder / "results.json", b"{}")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o777 & ~umask
    assert stat.S_IMODE((folder / "results.json").stat().st_mode) == 0o666 & ~umask
    assert (folder / "results.json").read_bytes() == b"{}"


def test_settings_that_differ_are_named_with_both_values():
    saved = {"epochs": 8, "bench": {"exposure": 1e-4, "laser": "dpss-532"}, "quick": False,
             "command": "opticsim demo " + "x" * 60}
    wanted = {"epochs": 2, "bench": {"exposure": 2e-4, "laser": "dpss-532"}, "hidden": [512],
              "command": "opticsim demo"}
    assert differences(saved, wanted, ignore=("command",)) == [
        "bench.exposure: 0.0001 there, 0.0002 now", "epochs: 8 there, 2 now",
        "hidden: absent there, [512] now", "quick: False there, absent now"]
    assert differences(saved, wanted)[1] == (f"command: {repr(saved['command'])[:39]}… there, "
                                             "'opticsim demo' now")
    assert differences(saved, dict(saved)) == []


@pytest.mark.parametrize("content", [b"{ not json", b"[1, 2]", b"\xff\xfe"])
def test_an_unreadable_settings_file_is_named(tmp_path, content):
    path = tmp_path / "experiment.json"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=f"experiment settings {path} is not readable"):
        read_json(path, "experiment settings")
    with pytest.raises(FileNotFoundError, match="absent.json"):
        read_json(tmp_path / "absent.json")
