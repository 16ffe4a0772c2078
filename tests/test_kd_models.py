"""The SCLC student's cascade collapses into one mask per channel pair, which the 4f displays;
double-phase encoding shows a complex mask on a phase-only panel; the KD loss is Hinton's."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.signal import fftconvolve

from kd.losses import kd_loss, soft_kl
from kd.models import LinearCNN, SCLCStudent, SpectralCascade, Teacher
from opticsim import FourF, Laser, Lens
from opticsim.slm import double_phase
from opticsim.torch import Optical4fConv
from opticsim.torch import double_phase as torch_double_phase


def _fourf(n=64, readout="intensity"):
    return FourF(Laser(633e-9, 1e-3), Lens(0.15), Lens(0.15), shape=n, pitch=10e-6,
                 readout=readout, dtype=np.complex128)


@pytest.fixture
def cascade():
    torch.manual_seed(3)
    return SpectralCascade(2, (3, 4, 5), kernel_size=3).double()


def test_collapsed_kernel_equals_the_layers_applied_one_by_one(cascade):
    images = torch.rand(2, 2, 17, 13, dtype=torch.float64)
    layered = images
    for weight in cascade.weights:                       # each layer a full linear convolution
        layered = F.conv2d(layered, weight, padding=weight.shape[-1] - 1)
    assert cascade.kernel_shape == (7, 7)
    torch.testing.assert_close(cascade(images), layered, rtol=1e-12, atol=1e-12)


def test_collapsed_masks_are_the_product_of_the_layer_spectra(cascade):
    fourf = _fourf(48)
    masks = cascade.masks(fourf)                         # Σ_c M³·M²·M¹ per frequency
    assert masks.shape == (5, 2, 48, 48)
    direct = torch.as_tensor(fourf.mask_from_kernel(cascade.convolution_kernel().detach().numpy()))
    torch.testing.assert_close(masks.detach(), direct.to(masks.dtype), rtol=0, atol=1e-9)
    # one layer by hand: frequency by frequency a matrix product over the channels
    first, second = (torch.as_tensor(fourf.mask_from_kernel(w.detach().flip(-2, -1).numpy()))
                     for w in cascade.weights[:2])
    pair = torch.einsum("cdyx,diyx->ciyx", second, first)
    assert not torch.allclose(pair[0, 0], second[0, 0] * first[0, 0])  # the sum over d matters


def test_the_optics_displaying_the_collapsed_masks_computes_the_student():
    """An ideal 4f showing the collapsed masks gives the student's |u ∗ h|² (scaled by the
    lenses and laser), and the digital model equals scipy's linear convolution."""
    torch.manual_seed(0)
    student = SCLCStudent(1, 10, channels=(2, 3), kernel_size=5).double().eval()
    fourf = _fourf(64)
    images = np.random.default_rng(1).random((3, 1, 20, 20))
    kernel = student.cascade.convolution_kernel().detach().numpy()      # (3, 1, 9, 9)
    expected = np.stack([[fftconvolve(image[0], k[0]) ** 2 for k in kernel] for image in images])
    signal = student.camera_signal(torch.as_tensor(images)).detach().numpy()
    np.testing.assert_allclose(signal, expected, rtol=1e-9, atol=1e-12)
    layout = fourf.layout(1, 3, (20, 20), (9, 9))
    masks = student.cascade.masks(fourf)[:, 0].detach().numpy()
    frames = fourf.run(images, masks, layout=layout)                    # W/m²
    amplitude = fourf.laser.amplitude(fourf.shape, fourf.pitch)[0, 0]
    scale = amplitude ** 2
    np.testing.assert_allclose(frames / scale, expected, rtol=2e-4, atol=2e-4 * expected.max())


def test_double_phase_shows_the_mask_plus_light_half_a_period_away():
    rng = np.random.default_rng(2)
    fourf = _fourf(128)
    kernel = rng.standard_normal((7, 7))
    mask = fourf.mask_from_kernel(kernel).astype(np.complex128)
    mask /= np.abs(mask).max()
    phases = double_phase(mask)
    torch.testing.assert_close(torch_double_phase(torch.as_tensor(mask)),
                               torch.as_tensor(phases), rtol=0, atol=1e-7)
    # the two phases average to the mask on every pair of neighbours
    np.testing.assert_allclose(np.cos(phases - np.angle(mask)), np.abs(mask), atol=1e-9)
    image = rng.random((1, 24, 24)) * (rng.random((1, 24, 24)) > 0.7)
    layout = fourf.layout(1, 1, (24, 24), (7, 7))
    ideal = fourf.run(image[:, None], mask[None], layout=layout)[0, 0]
    shown = fourf.run(image[:, None], np.exp(1j * phases)[None], layout=layout)[0, 0]
    assert np.linalg.norm(shown - ideal) < 5e-3 * np.linalg.norm(ideal)
    frame = fourf.upright(fourf.run(image, np.exp(1j * phases))[0])
    error = np.abs(frame - fourf.upright(fourf.run(image, mask)[0]))
    rows, cols = np.unravel_index(np.argmax(error), error.shape)
    assert min(rows, 128 - rows) < 20 and min(cols, 128 - cols) < 20   # N/2 from the axis
    with pytest.raises(ValueError, match="modulus"):
        double_phase(2 * mask)


def test_optical_layer_takes_displays_from_another_module():
    fourf = _fourf(32)
    layer = Optical4fConv(fourf, 1, 2, 3, mask="phase", hardware=False, image_shape=(8, 8))
    torch.manual_seed(0)
    values = torch.rand(2, 32, 32, requires_grad=True)
    frames = layer(torch.rand(1, 1, 8, 8), values=values)
    (frames * torch.rand(frames.shape)).sum().backward()
    assert values.grad is not None and values.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="values"):
        layer(torch.rand(1, 1, 8, 8), values=torch.zeros(3, 32, 32))


def test_differential_student_reads_the_difference_of_two_captures():
    torch.manual_seed(1)
    student = SCLCStudent(1, 10, channels=(2,), kernel_size=3, readout="differential").double()
    images = torch.rand(2, 1, 10, 10, dtype=torch.float64)
    kernel = student.cascade.kernel()
    positive = F.conv2d(images, kernel.clamp(min=0), padding=2)
    negative = F.conv2d(images, (-kernel).clamp(min=0), padding=2)
    torch.testing.assert_close(student.camera_signal(images), positive ** 2 - negative ** 2)


def test_linear_baseline_is_linear_and_teacher_is_not():
    torch.manual_seed(0)
    a, b = torch.rand(2, 1, 1, 32, 32)
    for model, linear in ((LinearCNN(), True), (Teacher(), False)):
        features = model.features                        # affine: convolutions with biases
        zero = features(torch.zeros_like(a))
        together = features(a + 2 * b) - zero
        apart = features(a) - zero + 2 * (features(b) - zero)
        # a feature sums 9 + 8·9 + 16·9 = 225 float32 products over the three layers; the
        # four evaluations agree to 4·225·ε of the features
        tolerance = 4 * 225 * torch.finfo(torch.float32).eps * float(apart.detach().abs().max())
        assert torch.allclose(together, apart, rtol=0, atol=tolerance) is linear


def test_models_give_logits_for_any_image_size():
    for model in (Teacher(channels=(4, 4)), LinearCNN(channels=(4, 4)),
                  SCLCStudent(channels=(4, 4), kernel_size=5)):
        assert model.eval()(torch.rand(3, 1, 40, 36)).shape == (3, 10)


def test_kd_loss_is_hintons():
    torch.manual_seed(0)
    student, teacher = torch.randn(5, 10), torch.randn(5, 10)
    labels = torch.randint(0, 10, (5,))
    t, alpha = 3.0, 0.7
    soft = F.kl_div(F.log_softmax(student / t, 1), F.softmax(teacher / t, 1),
                    reduction="batchmean") * t * t
    expected = alpha * soft + (1 - alpha) * F.cross_entropy(student, labels)
    torch.testing.assert_close(kd_loss(student, teacher, labels, t, alpha), expected)
    torch.testing.assert_close(kd_loss(student, None, labels), F.cross_entropy(student, labels))
    assert soft_kl(teacher, teacher, t).abs() < 1e-6
    # pixel-wise: the mean over pixels of the per-pixel loss
    maps_s, maps_t = torch.randn(2, 3, 4, 5), torch.randn(2, 3, 4, 5)
    per_pixel = [soft_kl(maps_s[:, :, i, j], maps_t[:, :, i, j], t) for i in range(4)
                 for j in range(5)]
    torch.testing.assert_close(soft_kl(maps_s, maps_t, t), torch.stack(per_pixel).mean())
    with pytest.raises(ValueError, match="alpha"):
        kd_loss(student, teacher, labels, t, 1.5)
    with pytest.raises(ValueError, match="temperature"):
        kd_loss(student, teacher, labels, 0.0, 0.5)
