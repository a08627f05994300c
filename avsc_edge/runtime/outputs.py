"""Output files that never destroy what a user already has.

Every output a command writes (``predict --csv`` / ``--errors``, ``bench --json`` / ``--markdown``
/ ``--plot``, ``explain --out``, ``eval --plot``) is checked before any work
(:func:`output_path`): a file name in an existing, writable folder, of a kind the writer makes, and
none of the run's inputs (the model and its split graphs, the clips), also through a symbolic
link. It is written under a temporary name beside its target and renamed into place, which
replaces a link rather than writing through it. A result file (rows as they come) is opened only
once the model and inputs are known to be good; a run that fails, is interrupted (Ctrl-C,
SIGTERM) or fills the disk leaves an earlier file of that name as it was and its own rows in
``NAME.partial``.
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Iterable, TextIO

from ..errors import ConfigError


PLOT_SUFFIXES = (".png",)


def output_path(path: str | os.PathLike, what: str, inputs: Iterable[str | os.PathLike] = (), kind: str = "an input",
                suffixes: tuple[str, ...] | None = None) -> Path:
    """``path`` checked as an output before any work (see the module): a ConfigError that names the
    problem otherwise."""
    target = Path(path)
    if target.is_dir():
        raise ConfigError(f"{what} {target} is a folder; give a file name (e.g. {target / ('out' + (suffixes or ('',))[0])})")
    if suffixes is not None and target.suffix.lower() not in suffixes:
        raise ConfigError(f"{what} {target}: writes {' or '.join(s.lstrip('.').upper() for s in suffixes)} files; "
                          f"name it ...{suffixes[0]}")
    if not target.parent.is_dir():
        raise ConfigError(f"{what} {target}: folder {target.parent} does not exist")
    if not os.access(target.parent, os.W_OK):
        raise ConfigError(f"{what} {target}: folder {target.parent} is not writable")
    refuse_overwriting(target, what, inputs, kind)
    return target


def refuse_overwriting(target: Path, what: str, paths: Iterable[str | os.PathLike], kind: str) -> None:
    """An output must not be one of the run's inputs or model files (compared where links lead)."""
    mine = target.resolve()
    for p in paths:
        if p is not None and Path(p).resolve() == mine:
            raise ConfigError(f"{what} {target} is also {kind}; choose another file name")


def write_output(path: Path, text: str) -> Path:
    """Text written whole: a temporary beside ``path``, renamed over it."""
    from ..formats.artifact import atomic_write

    return atomic_write(path, lambda tmp: tmp.write_text(text))


class ResultFile:
    def __init__(self, path: str | os.PathLike, what: str) -> None:
        self.target, self.what = output_path(path, what), what
        self.stream: TextIO | None = None
        self._tmp: Path | None = None

    @property
    def partial(self) -> Path:
        return self.target.with_name(self.target.name + ".partial")

    def refuse_overwriting(self, paths: Iterable[str | os.PathLike], kind: str) -> None:
        """A result file must not be one of the run's inputs or model files."""
        refuse_overwriting(self.target, self.what, paths, kind)

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
