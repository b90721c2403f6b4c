"""Flux's own names, defined once: its namespace, the bootstrap objects' name, its API groups and
the kinds of its sources."""

from __future__ import annotations

# The namespace `flux install` and `flux bootstrap` use, and everything this project generates.
FLUX_NAMESPACE = "flux-system"
# GitRepository, Kustomization and Git Secret of the bootstrap, as `flux bootstrap` names them.
SYNC_NAME = "flux-system"

SOURCE_GROUP = "source.toolkit.fluxcd.io"
KUSTOMIZE_GROUP = "kustomize.toolkit.fluxcd.io"
HELM_GROUP = "helm.toolkit.fluxcd.io"
NOTIFICATION_GROUP = "notification.toolkit.fluxcd.io"

# Every kind of source.toolkit.fluxcd.io, with its plural, in the order `flux get all` lists
# sources (ExternalArtifact, Flux 2.7, last).
SOURCE_KINDS: dict[str, str] = {
    "GitRepository": "gitrepositories",
    "OCIRepository": "ocirepositories",
    "HelmRepository": "helmrepositories",
    "HelmChart": "helmcharts",
    "Bucket": "buckets",
    "ExternalArtifact": "externalartifacts",
}
