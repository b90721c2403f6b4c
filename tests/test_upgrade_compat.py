"""What existing stacks hold must still mean the same after an upgrade of the program.

- Pulumi pickles each dynamic provider into the state (`__provider`, dill by reference: module
  path and class name). `refresh` and `destroy` unpickle it with the *new* program, so
  `components.git_resource`, `components.flux_uninstall` and `components.deploy_key` stay where
  they are and keep their provider class names. The pickles below were taken before the layout
  change (issue 14); today's must be byte-identical, and those must still load.
- Every resource's type token and URN stays the same, or an `up` after the upgrade would replace
  (delete and create) the stack's resources: Flux itself among them.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import dill
import pytest
from pulumi.dynamic.dynamic import serialize_provider

from components.deploy_key import DeployKeyProvider
from components.flux_uninstall import FluxUninstall, FluxUninstallProvider
from components.git_resource import GitOpsFilesProvider
from tests.test_program import SECRETS, program, run_main  # noqa: F401 (fixture)

DATA = Path(__file__).parent / "data"
PROVIDERS: dict[str, tuple[type[Any], Any]] = {
    "GitOpsFilesProvider": (GitOpsFilesProvider, GitOpsFilesProvider()),
    "FluxUninstallProvider": (FluxUninstallProvider, FluxUninstall._uninstall_provider),
    "DeployKeyProvider": (DeployKeyProvider, DeployKeyProvider()),
}


def pickled(name: str) -> str:
    return (DATA / "pickled_providers" / f"{name}.b64").read_text().strip()


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_provider_pickle_is_byte_identical(name: str) -> None:
    _cls, provider = PROVIDERS[name]
    assert serialize_provider(provider) == pickled(name)


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_old_state_pickle_loads(name: str) -> None:
    cls, _provider = PROVIDERS[name]
    loaded = dill.loads(base64.b64decode(pickled(name)))
    assert type(loaded) is cls and cls.__qualname__ == name


TYPES = {
    "flux-gitops:cluster_stack:ClusterStack",
    "flux-gitops:flux_install:FluxInstall",
    "flux-gitops:flux_sync:FluxSync",
    "flux-gitops:notifications:NotificationSecrets",
    "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition",
    "kubernetes:apps/v1:Deployment",
    "kubernetes:core/v1:Namespace",
    "kubernetes:core/v1:ResourceQuota",
    "kubernetes:core/v1:Secret",
    "kubernetes:core/v1:Service",
    "kubernetes:core/v1:ServiceAccount",
    "kubernetes:kustomize.toolkit.fluxcd.io/v1:Kustomization",
    "kubernetes:networking.k8s.io/v1:NetworkPolicy",
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole",
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding",
    "kubernetes:source.toolkit.fluxcd.io/v1:GitRepository",
    "pulumi-python:dynamic/flux-gitops:DeployKey",
    "pulumi-python:dynamic/flux-gitops:FluxUninstall",
    "pulumi-python:dynamic/flux-gitops:GitOpsFiles",
    "pulumi:providers:kubernetes",
    "pulumi:pulumi:Stack",
}


@pytest.mark.parametrize("stack", ["k8s-01", "k8s-02"])
def test_type_tokens_and_urns_unchanged(program: tuple[Path, Path], stack: str) -> None:  # noqa: F811
    project, _remote = program
    rec = run_main(project, stack, SECRETS[stack])
    assert {r.type for r in rec.resources.values()} == TYPES
    urns = json.loads((DATA / "program_urns.json").read_text())[stack]
    assert sorted(rec.by_urn) == urns
