"""What the run's figures show, checked as data: the point response exposed to the fraction of
the full well asked for and found where the kernel puts it, one colour range per row of frames,
and training curves of the cross-entropy every model shares (not a KD student's objective)."""

import numpy as np
import pytest

from kd import figures
from opticsim import Camera, FourF, Laser, Lens
from opticsim.camera import photon_energy

N, PITCH, WAVELENGTH, FOCAL = 64, 8e-6, 532e-9, 0.1
IMAGE, KERNEL, TAP = (16, 16), (5, 5), (1, 3)
# The irradiance is float32 through two FFTs of N² samples: rounding ~ eps·log2(N²).
RTOL = 10 * np.finfo(np.float32).eps * np.log2(N * N)


def bench(**camera_fields):
    camera = Camera((N, N), PITCH, **{"exposure": 1e-6, "qe": 0.6, "gain": 0.2,
                                      "full_well": 20_000, "read_noise": 2.0, "bits": 14,
                                      **camera_fields})
    return FourF(Laser(WAVELENGTH, 1e-6), Lens(FOCAL), Lens(FOCAL), shape=N, pitch=PITCH,
                 camera=camera)


def one_tap_mask(fourf):
    """The mask of a kernel whose only tap is at ``TAP``: the point's image moves there."""
    kernel = np.zeros(KERNEL)
    kernel[TAP] = 1.0
    return {"mask": fourf.masks_from_kernels(kernel[None, None],
                                             fourf.layout(1, 1, IMAGE, KERNEL))}


def electrons(psf, camera):
    """Mean photo-electrons of the brightest pixel, ``E·A·η·t/(hc/λ)`` (EMVA 1288)."""
    return (psf["ideal"].max() * camera.pitch[0] * camera.pitch[1] * camera.qe
            * psf["exposure"] / photon_energy(WAVELENGTH))


def peak_position(image, axes):
    row, column = np.unravel_index(np.argmax(image), image.shape)
    return axes[0][row], axes[1][column]


def test_psf_fills_the_well_to_the_fraction_asked_where_the_kernel_puts_the_point():
    fourf = bench()
    psf = figures.psf_data(fourf, one_tap_mask(fourf), IMAGE, KERNEL, fill=0.85, seed=3)
    camera = fourf.camera
    assert psf["laser_power"] == fourf.laser.power                   # the exposure, not the laser
    assert electrons(psf, camera) == pytest.approx(0.85 * camera.full_well, rel=RTOL)
    expected = tuple((t - (k - 1) / 2) * PITCH * 1e6 for t, k in zip(TAP, KERNEL))
    assert peak_position(psf["ideal"], psf["ideal_axes"]) == pytest.approx(expected)
    assert peak_position(psf["frame"], psf["frame_axes"]) == pytest.approx(expected)
    shot = np.sqrt(0.85 * camera.full_well + camera.read_noise ** 2)  # e⁻ RMS at the peak
    assert abs(psf["frame"].max() / camera.gain - 0.85 * camera.full_well) < 5 * shot + 1


def test_psf_longer_than_the_frame_period_raises_the_laser_instead():
    needed = figures.psf_data(bench(), one_tap_mask(bench()), IMAGE, KERNEL)["exposure"]
    fourf = bench(frame_rate=3 / needed)                              # a third of the time
    psf = figures.psf_data(fourf, one_tap_mask(fourf), IMAGE, KERNEL, fill=0.8)
    assert psf["exposure"] == fourf.camera.frame_period
    assert psf["laser_power"] == pytest.approx(3 * psf["bench_power"], rel=RTOL)
    assert electrons(psf, fourf.camera) == pytest.approx(0.8 * fourf.camera.full_well,
                                                         rel=RTOL)


def test_frames_share_one_colour_range_per_row_and_caption_truth_and_predictions():
    rng = np.random.default_rng(0)
    ideal, camera = rng.random((6, 8, 8)), 4000 * rng.random((6, 8, 8))
    rows = figures.frame_data({"ideal": (ideal, "DN", None),
                               "camera": (camera, "DN", np.array([1, 0, 2, 2, 0, 1]))},
                              labels=np.array([1, 1, 2, 0, 0, 0]), classes=("a", "b", "c"),
                              count=4)
    assert [row["range"] for row in rows] == [(ideal[:4].min(), ideal[:4].max()),
                                              (camera[:4].min(), camera[:4].max())]
    assert rows[0]["captions"] == ["true: b", "true: b", "true: c", "true: a"]
    assert rows[1]["captions"] == ["predicted: b", "predicted: a", "predicted: c",
                                   "predicted: c"]
    assert rows[1]["correct"] == [True, False, True, False]
    assert figures.frame_panels({"camera": (camera, "DN", None)}, [0] * 6,
                                ("a",)).startswith(b"\x89PNG")


def test_curves_show_the_cross_entropy_not_the_kd_objective():
    histories = {"student": {"loss": [5.0, 4.0], "cross_entropy": [2.0, 1.0],
                             "train_accuracy": [0.2, 0.4], "validation_accuracy": [0.3, 0.5]},
                 "old": {"loss": [3.0], "train_accuracy": [0.1]}}     # an older checkpoint's
    series = figures.curve_series(histories)
    np.testing.assert_array_equal(series["student"]["cross_entropy"], [2.0, 1.0])
    np.testing.assert_array_equal(series["student"]["validation_accuracy"], [0.3, 0.5])
    np.testing.assert_array_equal(series["student"]["epoch"], [1, 2])
    assert np.isnan(series["old"]["cross_entropy"]).all()
    assert figures.training_curves(histories).startswith(b"\x89PNG")
