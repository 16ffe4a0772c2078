"""FLOP counts of the kd models against hand counts and torch's own counter, and the optical
front end's frames, time and energy against a hand-worked bench."""

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from kd import cost
from kd.models import SCLCStudent, Teacher
from opticsim.processor import Processor


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


def test_layer_bytes_count_weights_input_and_output_by_hand():
    # Conv2d 2 → 3, 3×3, padding 1, on (2, 4, 5): 3·2·9 weights + 3 biases, 2·20 inputs,
    # 3·20 outputs = 157 values of 4 bytes; FLOPs as conv2d_flops (36 per output, 60 outputs)
    conv = nn.Conv2d(2, 3, 3, padding=1)
    # BatchNorm of 3 channels: weight, bias, running mean and variance (its int64 batch
    # counter is no weight), 60 in, 60 out; flatten and dropout move nothing
    steps, shape = cost.layer_costs([conv, nn.BatchNorm2d(3), nn.Flatten(), nn.Dropout()],
                                    (2, 4, 5))
    assert [(s["flops"], s["bytes"]) for s in steps] == [
        (36 * 60, 4 * 157), (2 * 60, 4 * (12 + 60 + 60)), (0, 0), (0, 0)]
    assert shape == (60, 1, 1)
    half, _ = cost.layer_costs([conv], (2, 4, 5), value_bytes=2)
    assert half[0]["bytes"] == 2 * 157


def test_roofline_of_a_memory_bound_and_a_compute_bound_layer_by_hand():
    device = Processor(peak_flops=10e12, bandwidth=1e12)          # ridge 10 FLOP/B
    assert device.ridge == 10 and device.value_bytes == 4
    # the small convolution above: 2160 FLOPs, 628 B, 3.4 FLOP/B < 10: memory-bound
    small, _ = cost.layer_costs([nn.Conv2d(2, 3, 3, padding=1)], (2, 4, 5))
    assert cost.roofline_seconds(small, device, 0.5) == pytest.approx(628 / 0.5e12)
    # 64 → 64 channels, 3×3, padding 1, on 32×32: 2·64·9 FLOPs an output × 64·1024 outputs
    # = 75 497 472 FLOPs; 4·(64·64·9 + 64 + 2·64·1024) = 672 000 B, 112 FLOP/B: compute-bound
    large, _ = cost.layer_costs([nn.Conv2d(64, 64, 3, padding=1)], (64, 32, 32))
    assert (large[0]["flops"], large[0]["bytes"]) == (75_497_472, 672_000)
    assert cost.roofline_seconds(large, device, 0.5) == pytest.approx(75_497_472 / 5e12)
    # a tenth of the bandwidth slows the memory-bound layer tenfold and leaves the other
    slow = Processor(peak_flops=10e12, bandwidth=1e11)
    assert cost.roofline_seconds(small, slow, 0.5) == pytest.approx(628 / 0.5e11)
    assert cost.roofline_seconds(large, slow, 0.5) == pytest.approx(75_497_472 / 5e12)
    assert cost.roofline_seconds(small + large, device, 0.5) == pytest.approx(
        628 / 0.5e12 + 75_497_472 / 5e12)
    with pytest.raises(ValueError, match="efficiency"):
        device.time(1.0, 1.0, efficiency=0)


def test_student_steps_count_bytes_by_hand():
    student = SCLCStudent(channels=(2,), kernel_size=3, hidden=(4,)).eval()
    steps = cost.student_steps(student, (6, 6))
    # padded 8×8 (64 samples), 8·5 = 40 frequencies of 8 B; one input, two outputs
    assert [s["bytes"] for s in steps[:4]] == [
        36 * 4 + 40 * 8,                    # image in, one spectrum out
        40 * 8 * (1 + 2) + 2 * 40 * 8,      # spectrum and two transfer functions in, two out
        2 * (40 * 8 + 64 * 4),              # two inverse FFTs
        2 * 2 * 64 * 4]                     # two 8×8 fields in, their squares out
    assert sum(s["flops"] for s in steps) == cost.student_flops(student, (6, 6))["total"]


def test_images_per_frame_and_a_camera_region_of_interest_by_hand():
    # four 20×20 images per shot: output grid 50 // 2 = 25, tile 25 − 4 = 21 (input SLM:
    # (80 + 4) // 2 − 4 = 38); a quarter shot per image, four frames a shot of 2·24 rows
    front = _front_end(images_per_frame=4)
    assert front.tile(5) == 21
    result = front.cost((20, 20), 5, channels=4)
    assert (result["shots"], result["frames"], result["rows"]) == (0.25, 1.0, 48)
    assert result["time"] == pytest.approx(0.25 * max(1 / 50, 4 * 0.01))
    assert result["conversions"] == 4 * 24 * 24
    # reading 48 of 64 rows the camera runs at 100·64/48 Hz: 7.5 ms a frame
    roi = _front_end(images_per_frame=4, camera_roi=True)
    assert roi.frame_time(48) == pytest.approx(0.0075) and roi.frame_period == 0.01
    assert roi.cost((20, 20), 5, channels=4)["time"] == pytest.approx(0.25 * 4 * 0.0075)


def test_best_design_by_hand():
    # 20×20 images, 4 channels, 5-tap kernel on the hand bench: one channel per frame with one
    # image takes max(1/50, 4·0.01) = 40 ms; four images per shot (tile 21) 10 ms an image;
    # nine (tile 12) no longer hold an image; four channels per frame (tile 21) 20 ms; four
    # channels and four images (tile 8) do not hold an image
    design, result = cost.best_design(_front_end(), (20, 20), 5, channels=4)
    assert (design.channels_per_frame, design.images_per_frame) == (1, 4)
    assert result["time"] == pytest.approx(0.01)
    design, result = cost.best_design(_front_end(), (20, 20), 5, 4, channels_per_frame=4)
    assert (design.channels_per_frame, design.images_per_frame) == (4, 1)
    assert result["time"] == pytest.approx(0.02)
    with pytest.raises(ValueError, match="does not fit"):
        cost.best_design(_front_end(), (20, 20), 60, 4)
