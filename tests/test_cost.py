"""FLOP counts of the kd models against hand counts and torch's own counter, and the optical
front end's frames, time and energy against a hand-worked bench."""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from kd import cost
from kd.models import SCLCStudent, Teacher


def test_conv2d_flops_match_a_hand_count():
    # 2 → 3 channels, 3×3 kernel, 4×5 outputs: each output takes 2·9 = 18 products, 17 sums
    # and a bias add (36 FLOPs); 3·4·5 = 60 outputs.
    assert cost.conv2d_flops(2, 3, 3, (4, 5)) == 36 * 60
    assert cost.conv2d_flops(2, 3, 3, (4, 5), bias=False) == 35 * 60
    assert cost.fft_flops((8, 8)) == 2.5 * 64 * 6 and cost.fft_flops(8, real=False) == 1920


def test_teacher_flops_match_a_hand_count_of_a_small_teacher():
    teacher = Teacher(channels=(2,), kernel_size=3, hidden=(4,), downsample=1).eval()
    counts = cost.teacher_flops(teacher, (6, 6))
    assert counts["convolutions"] == 18 * 2 * 36        # 9 products + 8 sums + bias, 2×6×6
    assert counts["pooling_relu"] == 2 * 36             # one ReLU per sample
    # BatchNorm 2·72, 6×6 → 6×6 pool 72 (windows of one sample), FC 72→4 2·72·4, ReLU 4,
    # FC 4→10 2·4·10
    assert counts["backend"] == 144 + 72 + 576 + 4 + 80
    assert counts["total"] == 1296 + 72 + 876


def test_adaptive_pool_windows_overlap_as_torch_pools():
    # 8 → 6 bins: torch's windows [0,2) [1,3) [2,4) [4,6) [5,7) [6,8): 12 samples summed
    assert cost._adaptive_span(8, 6) == 12
    assert cost._adaptive_span(6, 6) == 6 and cost._adaptive_span(12, 6) == 12


def test_teacher_convolutions_agree_with_torch_flop_counter():
    teacher = Teacher(channels=(8, 16, 32), kernel_size=3, downsample=2).eval()
    image = torch.rand(1, 1, 40, 40)
    with FlopCounterMode(display=False) as counter:
        teacher.features(image)
    # torch counts 2 per multiply–accumulate of a convolution: the bias add replaces the
    # one sum fewer than products, so the counts are equal
    assert cost.teacher_flops(teacher, 40)["convolutions"] == counter.get_total_flops()


def test_student_flops_match_a_hand_count():
    student = SCLCStudent(channels=(2,), kernel_size=3, hidden=(4,)).eval()
    counts = cost.student_flops(student, (6, 6))
    # output 8×8 (a fast length): real FFT 2.5·64·6 = 960 per transform; 8·5 = 40
    # frequencies; one forward, 2 complex products per frequency (6 each), 2 inverse
    assert counts["fft_convolution"] == 960 + 2 * 40 * 6 + 2 * 960
    assert counts["square_law"] == 2 * 64
    assert cost.camera_shape(student, 6) == (2, 8, 8)


def _front_end(**changes):
    values = dict(input_rate=50.0, fourier_rate=200.0, camera_rate=100.0, exposure=1e-3,
                  input_shape=(80, 120), fourier_shape=(100, 140), camera_shape=(64, 64),
                  laser_power=1.0, input_slm_power=2.0, fourier_slm_power=3.0,
                  camera_power=4.0, adc_energy=1e-9)
    return cost.OpticalFrontEnd(**{**values, **changes})


def test_optical_front_end_counts_tiles_frames_time_and_energy():
    front = _front_end()
    # output tile ≤ 100/2 = 50 (and ≤ 64 camera): input tile 50 − 4 = 46 for a 5-tap kernel
    assert front.tile(5) == 46 and front.frame_period == 0.01
    result = front.cost((100, 90), 5, channels=4)
    assert result["tiles"] == 3 * 2 and result["frames"] == 6 * 4
    assert result["time"] == pytest.approx(6 * max(1 / 50, 4 * 0.01))
    assert result["conversions"] == 24 * 50 * 50
    assert result["energy"] == pytest.approx(0.24 * 10 + 24 * 2500 * 1e-9)
    slow_input = _front_end(input_rate=5.0).cost((100, 90), 5, channels=4, readout="differential")
    assert slow_input["frames"] == 48 and slow_input["time"] == pytest.approx(6 * 0.2)
    # four channels side by side: outputs of 50/2 = 25, input tiles of 21
    tiled = _front_end(channels_per_frame=4)
    assert tiled.tile(5) == 21 and tiled.cost(21, 5, channels=4)["frames"] == 1


def test_optical_front_end_rejects_what_cannot_work():
    with pytest.raises(ValueError, match="camera_rate"):
        _front_end(camera_rate=0)
    with pytest.raises(ValueError, match="does not fit"):
        _front_end().tile(60)
    with pytest.raises(ValueError, match="no frame_rate"):
        cost.OpticalFrontEnd.from_presets("dpss-532", "santec-slm-200", "imx250", exposure=1e-4)
    with pytest.raises(ValueError, match="camera must name a camera"):
        cost.OpticalFrontEnd.from_presets("dpss-532", "meadowlark", "pluto", exposure=1e-4)
