"""Training checkpoints each epoch, resumes to the same weights after a kill, and refuses
corrupt or mismatched checkpoints without losing anything already written."""

import os

import pytest
import torch

import kd.train
from kd.models import SCLCStudent
from kd.train import Settings, fit, load_checkpoint, predict, restore, restore_student

SETTINGS = Settings(model="student", channels=(2, 3), spectral_kernel_size=3, hidden=(8,),
                    epochs=3, batch_size=8, seed=5)


@pytest.fixture(scope="module")
def data():
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(40, 1, 12, 12, generator=generator)
    labels = torch.randint(0, 3, (40,), generator=generator)
    return images, labels


def _weights(model):
    return {name: value.clone() for name, value in model.state_dict().items()}


def test_killed_mid_epoch_and_resumed_gives_the_uninterrupted_weights(data, tmp_path,
                                                                      monkeypatch):
    images, labels = data
    reference, history = fit(SETTINGS, images, labels, checkpoint=tmp_path / "a.pt",
                             progress=False)
    assert len(history["loss"]) == 3
    calls = {"count": 0}
    real_loss = kd.train.kd_loss

    def dies_in_epoch_two(*args, **kwargs):
        calls["count"] += 1
        if calls["count"] == 5 + 3:                 # 5 batches an epoch: the 3rd of epoch 2
            raise KeyboardInterrupt
        return real_loss(*args, **kwargs)

    monkeypatch.setattr(kd.train, "kd_loss", dies_in_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        fit(SETTINGS, images, labels, checkpoint=tmp_path / "b.pt", progress=False)
    assert load_checkpoint(tmp_path / "b.pt")["epoch"] == 1
    monkeypatch.setattr(kd.train, "kd_loss", real_loss)
    resumed, resumed_history = fit(SETTINGS, images, labels, checkpoint=tmp_path / "b.pt",
                                   resume=True, progress=False)
    for name, value in _weights(reference).items():
        assert torch.equal(resumed.state_dict()[name], value), name
    assert resumed_history == history


def test_a_finished_run_resumes_to_itself(data, tmp_path):
    images, labels = data
    model, history = fit(SETTINGS, images, labels, checkpoint=tmp_path / "c.pt", progress=False)
    again, again_history = fit(SETTINGS, images, labels, checkpoint=tmp_path / "c.pt",
                               resume=True, progress=False)
    assert again_history == history
    for name, value in _weights(model).items():
        assert torch.equal(again.state_dict()[name], value)


def test_checkpoints_refuse_what_they_cannot_be(data, tmp_path):
    images, labels = data
    path = tmp_path / "run.pt"
    fit(SETTINGS, images, labels, checkpoint=path, progress=False)
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="run.pt"):         # never replaced silently
        fit(SETTINGS, images, labels, checkpoint=path, progress=False)
    other = Settings(**{**SETTINGS.__dict__, "lr": 0.5})
    with pytest.raises(ValueError, match="run.pt.*lr: 0.001 there, 0.5 now"):
        fit(other, images, labels, checkpoint=path, resume=True, progress=False)
    assert path.read_bytes() == before
    for name, content in (("truncated.pt", before[:len(before) // 2]),
                          ("noise.pt", os.urandom(256)), ("empty.pt", b""),
                          ("text.pt", b'{"settings": {}}')):
        broken = tmp_path / name
        broken.write_bytes(content)
        with pytest.raises(ValueError, match=name):
            load_checkpoint(broken)
    torch.save({"model": {}}, tmp_path / "partial.pt")
    with pytest.raises(ValueError, match="partial.pt"):
        load_checkpoint(tmp_path / "partial.pt")
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")
    with pytest.raises(ValueError, match="run.pt.*5 classes"):
        restore(path, 1, 5)                                   # saved for 3 classes
    model, settings = restore(path, 1, 3)
    assert restore(path)[0].backend.layers[-1].out_features == 3     # read from the weights
    assert settings == SETTINGS and not model.training
    assert isinstance(restore_student(path, 1, 3), SCLCStudent)
    teacher = tmp_path / "teacher.pt"
    fit(Settings(model="teacher", channels=(2,), hidden=(8,), epochs=1, batch_size=20),
        images, labels, checkpoint=teacher, progress=False)
    with pytest.raises(ValueError, match="teacher.pt is not an optical student"):
        restore_student(teacher)
    assert path.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_settings_validate_every_field():
    for field, value in (("model", "resnet"), ("readout", "field"), ("epochs", 0),
                         ("alpha", 1.5), ("temperature", -1), ("lr", 0), ("channels", (0,))):
        with pytest.raises(ValueError, match=field):
            Settings(**{field: value})
    assert Settings.from_dict(SETTINGS.to_dict()) == SETTINGS
    with pytest.raises(ValueError, match="colour"):
        Settings.from_dict({**SETTINGS.to_dict(), "colour": 1})


def test_validation_is_scored_each_epoch_without_changing_the_training(data):
    images, labels = data
    plain, history = fit(SETTINGS, images[:32], labels[:32], progress=False)
    validated, validated_history = fit(SETTINGS, images[:32], labels[:32],
                                       validation=(images[32:], labels[32:]), progress=False)
    for name, value in _weights(plain).items():          # dropout drew the same numbers
        assert torch.equal(validated.state_dict()[name], value), name
    assert {k: v for k, v in validated_history.items() if k != "validation_accuracy"} == history
    final = (predict(validated, images[32:]).argmax(1) == labels[32:]).double().mean()
    assert len(validated_history["validation_accuracy"]) == SETTINGS.epochs
    assert validated_history["validation_accuracy"][-1] == float(final)


def test_history_holds_the_cross_entropy_beside_the_kd_objective(data):
    images, labels = data
    _, alone = fit(SETTINGS, images, labels, progress=False)
    assert alone["cross_entropy"] == alone["loss"]       # no teacher: the objective is the CE
    teacher = torch.randn(len(images), 3, generator=torch.Generator().manual_seed(1))
    _, distilled = fit(SETTINGS, images, labels, teacher_logits=teacher, progress=False)
    assert all(ce != loss for ce, loss in zip(distilled["cross_entropy"], distilled["loss"]))
