"""The file set of one stack in the GitOps repository, and who owns each file.

Each file has an owner (README, "The repository it produces"):
- `managed`: owned by this stack, rewritten on every `up`; a hand edit is drift.
- `fleet`: owned by the fleet (core-apps/sources/); every stack writes the same bytes and no
  stack ever deletes them.
- `scaffold`: created only where absent, then belongs to people; never overwritten or deleted.
  A scaffold is created only when its `guard` path (file or directory) does not exist, so the
  seed's base applications are added to a repository that has no `core-apps/base/` yet, and
  never into one whose people already laid out their own.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from components.common.errors import FluxGitopsError

Owner = Literal["managed", "fleet", "scaffold"]
OWNERS: tuple[Owner, ...] = ("managed", "fleet", "scaffold")


@dataclass(frozen=True)
class RepoFile:
    """One file as it should stand in the repository."""

    path: str  # POSIX, relative to the repository root
    content: str  # text, LF line endings
    owner: Owner  # who owns the file, and so who may rewrite or delete it
    guard: str = ""  # scaffolds: created only when this path is absent; defaults to `path`

    @property
    def guard_path(self) -> str:
        return self.guard or self.path


class ConflictError(FluxGitopsError):
    """Two stacks claim one path with different content or ownership."""


class RepoFiles(Mapping[str, RepoFile]):
    """An immutable, path-sorted set of files."""

    def __init__(self, files: Iterable[RepoFile] = ()) -> None:
        by_path: dict[str, RepoFile] = {}
        for f in files:
            if f.path in by_path and by_path[f.path] != f:
                raise ConflictError(f"{f.path}: rendered twice with different content")
            by_path[f.path] = f
        self._files = dict(sorted(by_path.items()))

    def __getitem__(self, path: str) -> RepoFile:
        return self._files[path]

    def __iter__(self) -> Iterator[str]:
        return iter(self._files)

    def __len__(self) -> int:
        return len(self._files)

    def owned_by(self, owner: Owner) -> dict[str, str]:
        """{path: content} of the files of one owner."""
        return {p: f.content for p, f in self._files.items() if f.owner == owner}

    def merged(self, other: RepoFiles) -> RepoFiles:
        """The union of two stacks' files; a path both render must be rendered identically."""
        for path, f in other.items():
            mine = self._files.get(path)
            if mine is not None and mine != f:
                raise ConflictError(
                    f"{path}: rendered differently by two stacks ({mine.owner} vs {f.owner}); "
                    "fleet files must be the same for every stack"
                )
        return RepoFiles([*self._files.values(), *other.values()])
