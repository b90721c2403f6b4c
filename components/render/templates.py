"""The repository template: files scaffolded into the GitOps repository.

`repo-template/` holds two groups of files, laid out as they stand in the repository:
- `cluster/`: created for every cluster, e.g. `cluster/core-apps/clusters/@@cluster@@/kustomization.yaml`;
  created only when the cluster's directory (`core-apps/clusters/<c>`, `apps/clusters/<c>`) is absent.
- `base/`: the seed's applications, created only when the repository has no `core-apps/base` /
  `apps/base` yet (the first bootstrap of a new repository).

Placeholders are `@@name@@`, in file contents and in paths, and nothing else is special: `${var}`
(Flux post-build substitution) and `{{ }}` (Helm) pass through untouched. Names: `cluster` (the
cluster name) and `flux_version`. An unknown name is an error that names the template file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from components.common.errors import FluxGitopsError
from components.common.repofiles import RepoFile
from components.common.textfiles import UnreadableFileError, read_text

PLACEHOLDER = re.compile(r"@@([a-z_]+)@@")
# A scaffold is a small text file; a template file beyond this is a mistake.
MAX_TEMPLATE_FILE_BYTES = 1024 * 1024
# How many leading path segments form the guard of a file in each group (see module doc).
GROUP_GUARD_DEPTH = {"cluster": 3, "base": 2}


class TemplateError(FluxGitopsError):
    """The repository template is broken (unknown placeholder, unknown group)."""


@dataclass(frozen=True)
class Template:
    """The template's files as {group/relative path: text}, loaded once."""

    root: str
    files: Mapping[str, str]

    @classmethod
    def load(cls, root: Path) -> Template:
        if not root.is_dir():
            raise TemplateError(f"{root}: repository template directory not found")
        files: dict[str, str] = {}
        for path in sorted(root.rglob("*")):
            if not path.is_file():
                continue
            rel = path.relative_to(root).as_posix()
            group = rel.split("/", 1)[0]
            if group not in GROUP_GUARD_DEPTH:
                continue  # README.md and the like describe the template, they are not scaffolded
            try:
                files[rel] = read_text(path, f"{root}/{rel}", MAX_TEMPLATE_FILE_BYTES)
            except UnreadableFileError as err:
                raise TemplateError(str(err)) from None
        return cls(root=str(root), files=files)

    def render(self, values: Mapping[str, str]) -> list[RepoFile]:
        """Every template file with its placeholders filled, as scaffolds with their guards."""
        out = []
        for rel, text in self.files.items():
            group, path_t = rel.split("/", 1)
            path = _fill(path_t, values, f"{self.root}/{rel} (path)")
            content = _fill(text, values, f"{self.root}/{rel}")
            depth = GROUP_GUARD_DEPTH[group]
            guard = "/".join(path.split("/")[:depth])
            out.append(RepoFile(path=path, content=content, owner="scaffold", guard=guard))
        return out


def _fill(text: str, values: Mapping[str, str], where: str) -> str:
    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in values:
            known = ", ".join(sorted(values))
            raise TemplateError(f"{where}: unknown placeholder @@{name}@@ (known: {known})")
        return values[name]

    return PLACEHOLDER.sub(sub, text)
