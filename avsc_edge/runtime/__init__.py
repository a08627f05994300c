"""Runtime: turning media into model inputs, backends that run an artifact, and their results."""
