"""Result files that never destroy what a user already has.

A result file (``predict --csv``, ``--errors``) is checked before any work, opened only once the
model and inputs are known to be good, written under a temporary name beside its target and
renamed into place when the run completes. A run that fails, is interrupted (Ctrl-C, SIGTERM) or
fills the disk leaves an earlier file of that name as it was and its own rows in ``NAME.partial``.
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Iterable, TextIO

from ..errors import ConfigError


class ResultFile:
    def __init__(self, path: str | os.PathLike, what: str) -> None:
        self.target, self.what = Path(path), what
        self.stream: TextIO | None = None
        self._tmp: Path | None = None
        if self.target.is_dir():
            raise ConfigError(f"{what} {self.target} is a folder; give a file name")
        if not self.target.parent.is_dir():
            raise ConfigError(f"{what} {self.target}: folder {self.target.parent} does not exist")
        if not os.access(self.target.parent, os.W_OK):
            raise ConfigError(f"{what} {self.target}: folder {self.target.parent} is not writable")

    @property
    def partial(self) -> Path:
        return self.target.with_name(self.target.name + ".partial")

    def refuse_overwriting(self, paths: Iterable[str | os.PathLike], kind: str) -> None:
        """A result file must not be one of the run's inputs or model files."""
        mine = self.target.resolve()
        for p in paths:
            if Path(p).resolve() == mine:
                raise ConfigError(f"{self.what} {self.target} is also {kind}; choose another file name")

    def open(self) -> TextIO:
        self._tmp = self.target.with_name(f".{self.target.name}.{uuid.uuid4().hex[:12]}.tmp")
        fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)   # the user's umask applies
        self.stream = os.fdopen(fd, "w", newline="")
        return self.stream

    def finish(self, complete: bool) -> Path | None:
        """Close, then move into place (``complete``) or to ``NAME.partial``; the path written."""
        if self.stream is None or self._tmp is None:
            return None
        try:
            self.stream.close()
        except OSError:
            complete = False          # the last rows did not reach the disk (ENOSPC)
        dest = self.target if complete else self.partial
        os.replace(self._tmp, dest)
        self.stream = self._tmp = None
        return dest
