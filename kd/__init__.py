"""Knowledge distillation into an optical 4f student (Xiang et al., Appl. Opt. 61(9):2173, 2022).

- :mod:`kd.models`: nonlinear CNN teacher, linear CNN baseline, SCLC optical student.
- :mod:`kd.losses`: Hinton's KD loss (per image or per pixel).
- :mod:`kd.data`: embedded cluttered digits and bundled digits; MNIST, Fashion-MNIST, CIFAR-10.
- :mod:`kd.train`: settings, checkpointed and resumable training.
- :mod:`kd.hardware`: the hardware bench, exported gray levels, calibration, fine-tuning.
- :mod:`kd.evaluate`: accuracy with its 95 % (Wilson) interval, mIoU/Dice, the student through
  the engine.
- :mod:`kd.experiment`: the whole comparison as one run (``opticsim demo`` / ``train``).
- :mod:`kd.segmentation`: the same three kinds of model for segmentation.
"""
