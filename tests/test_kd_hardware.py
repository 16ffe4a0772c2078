"""The optical student on the hardware bench: exported gray levels through the engine give
the ideal signal back after the camera's calibration, exposure fills the well as asked, and
the bench refuses what it cannot be."""

import numpy as np
import pytest
import torch

from kd.evaluate import classifier_accuracy, student_on_hardware
from kd.hardware import (Bench, bench_frames, calibrate, engine_frames, expose, fine_tune,
                         optical_layer, prepare, student_gray, student_phases)
from kd.models import SCLCStudent
from opticsim.torch import double_phase
from tolerances import eps, fft_rounding


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    student = SCLCStudent(1, 3, channels=(2, 3), kernel_size=3, hidden=(8,)).eval()
    rng = np.random.default_rng(0)
    images = (rng.random((24, 1, 24, 24)) * (rng.random((24, 1, 24, 24)) > 0.6)).astype(
        np.float32)
    fourf = expose(Bench(), student, images[:8])
    return student, images, fourf


def test_bench_grid_holds_the_double_phase_light_apart(setup):
    student, images, fourf = setup
    tile = 24 + 5 - 1
    assert fourf.shape[0] >= 2 * tile and fourf.fourier_by_fft
    assert fourf.output_pitch[0] == pytest.approx(fourf.camera.pitch[0])   # a pixel a sample
    assert fourf.fourier_slm.mode == "phase" and fourf.camera.exposure == Bench().exposure


def test_exposure_fills_the_well_as_asked(setup):
    student, images, fourf = setup
    frames = engine_frames(student, fourf, images[:8], seed=1)
    camera = fourf.camera
    peak_electrons = (frames.max() - camera.offset) / camera.gain
    # the brightest pixel holds μ = fill·FWC e⁻ ± σ = √(μ + σ_r²); the largest of the n frame
    # samples lies within 5σ of μ (above it by less than σ·√(2 ln n) = 4.4σ for n = 18 816)
    electrons = Bench().fill * camera.full_well
    spread = np.sqrt(electrons + camera.read_noise ** 2)
    assert peak_electrons == pytest.approx(electrons, abs=5 * spread)


def test_calibrated_engine_frames_are_the_ideal_signal(setup):
    student, images, fourf = setup
    calibration = calibrate(student, fourf, images[:8])
    frames = torch.as_tensor(engine_frames(student, fourf, images[8:], seed=2))
    measured = calibration.apply(frames).numpy()
    ideal = student.camera_signal(torch.as_tensor(images[8:])).detach().numpy()
    assert measured.shape == ideal.shape
    error = np.linalg.norm(measured - ideal) / np.linalg.norm(ideal)
    assert error < 0.05                        # 8-bit SLMs, shot and read noise, 12-bit ADC
    assert np.corrcoef(measured.ravel(), ideal.ravel())[0, 1] > 0.998


def test_gray_levels_are_the_double_phase_of_the_collapsed_masks(setup):
    student, images, fourf = setup
    layout = fourf.layout(1, 3, (24, 24), student.cascade.kernel_shape)
    gray = student_gray(student, fourf, layout)
    assert gray.shape == (3,) + fourf.fourier_slm.shape and gray.dtype == np.uint8
    phases = student_phases(student, fourf, layout).detach().double()
    masks = student.cascade.masks(fourf)[:, 0].detach().to(torch.complex128)
    masks = masks / masks.abs().flatten(1).amax(1)[:, None, None]
    # Two float32 routes to the masks (peak 1) agree to the FFT's rounding, ε·log2(samples).
    # Each pixel shows arg M ± arccos|M|, so Re(exp(iφ)·conj M) = |M|², well conditioned
    # everywhere; the phase itself inherits arccos's infinite slope at |M| = 1, where a
    # modulus error δ moves it by up to √(2δ).
    error = 4 * fft_rounding(torch.float32, masks[0].numel())
    shown_mask = (torch.exp(1j * phases) * masks.conj()).real
    torch.testing.assert_close(shown_mask, masks.abs() ** 2, rtol=0, atol=error)
    torch.testing.assert_close(phases, double_phase(masks), rtol=0,
                               atol=np.sqrt(2 * error) + error)
    shown = fourf.fourier_slm.displayed(gray, fourf.wavelength)
    step = 2 * np.pi / 2 ** fourf.fourier_slm.bits
    assert np.abs(np.angle(shown * np.exp(-1j * phases.numpy()))).max() <= step / 2 + 1e-6


def test_fine_tuning_adapts_the_normalisation_to_the_bench(setup):
    student, images, fourf = setup
    calibration = calibrate(student, fourf, images[:8])
    labels = np.arange(len(images)) % 3
    tuned, history = fine_tune(student, fourf, calibration, images, labels, batch_size=8,
                               lr=1e-3, validation=(images[:6], labels[:6]), validate_every=2,
                               progress=False)
    assert all(len(history[key]) == 3 and np.isfinite(history[key]).all()
               for key in ("loss", "accuracy", "saturation", "calibration_residual"))
    assert history["validation_step"] == [0, 2, 3]
    before, after = student.state_dict(), tuned.state_dict()
    assert not torch.equal(before["cascade.weights.0"], after["cascade.weights.0"])
    # the statistics are the bench's calibrated frames' (same layer seed: the same noise)
    layer = optical_layer(student, fourf, (24, 24), hardware=True).train()
    phases = student_phases(student, fourf, layer.layout((24, 24)))
    frames = torch.cat(bench_frames(student, layer, calibration, torch.as_tensor(images),
                                    phases))
    normalisation = tuned.backend.layers[0]
    # float32 sums of 24·28² samples in batches: rounding ε·(samples per channel)
    tolerance = eps(torch.float32) * frames[:, 0].numel()
    torch.testing.assert_close(normalisation.running_mean, frames.mean(dim=(0, 2, 3)),
                               rtol=tolerance, atol=0)
    torch.testing.assert_close(normalisation.running_var, frames.var(dim=(0, 2, 3)),
                               rtol=tolerance, atol=0)
    assert not torch.allclose(normalisation.running_mean, before["backend.layers.0.running_mean"])
    kept, _ = fine_tune(student, fourf, calibration, images, labels, batch_size=8, lr=1e-3,
                        adapt=False, progress=False)
    for name, value in kept.state_dict().items():
        if "running" in name:
            assert torch.equal(before[name], value), name


def test_fine_tuning_recovers_half_of_what_strong_fringing_costs():
    # Three classes of stripes (rows, columns, diagonals of period 4 px) that a tiny student
    # learns perfectly; 2 px fringing on the Fourier SLM smooths its double-phase masks and
    # leaves it near chance on the bench. Fine-tuning with the bench in the loop, scored on the
    # bench and calibration it was tuned through, must win back at least half of that on its
    # training images (the target). Without re-estimating the back end's
    # normalisation on the bench's frames it won back a fifth.
    rng = np.random.default_rng(0)
    labels = np.arange(48) % 3
    y, x = np.mgrid[:16, :16]
    shifts = rng.integers(4, size=len(labels))
    stripes = np.stack([[(y + s) % 4 < 2, (x + s) % 4 < 2, (x + y + s) % 4 < 2][label]
                        for label, s in zip(labels, shifts)])
    images = (stripes * (0.5 + 0.5 * rng.random(stripes.shape)))[:, None].astype(np.float32)
    torch.manual_seed(0)
    student = SCLCStudent(1, 3, channels=(2, 3), kernel_size=3, hidden=(8,))
    optimiser = torch.optim.Adam(student.parameters(), lr=1e-2)
    for _ in range(100):
        loss = torch.nn.functional.cross_entropy(student(torch.as_tensor(images)),
                                                 torch.as_tensor(labels))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    student.eval()
    assert classifier_accuracy(student, images, labels) == 1.0
    setup = prepare(Bench(), student, images, {"fourier_slm.crosstalk": 2.0})
    before = student_on_hardware(student, *setup, images, labels, seed=1)["accuracy"]
    torch.manual_seed(0)                        # the back end's dropout
    tuned, _ = fine_tune(student, *setup, images, labels, epochs=8, batch_size=16, lr=3e-3,
                         progress=False)
    after = student_on_hardware(tuned, *setup, images, labels, seed=1)["accuracy"]
    assert before < 0.5 and after - before >= (1 - before) / 2


def test_bench_refuses_unknown_or_unsuitable_devices():
    for field, value in (("fourier_slm", "no-such-slm"), ("camera", "pluto-2.1"),
                         ("fourier_slm", "dlp7000"), ("fill", 0.0), ("exposure", -1.0)):
        with pytest.raises(ValueError, match=field):
            Bench(**{field: value})
