"""Training: the trainer, evaluation of the PyTorch reference, alignment metrics, the demo."""
