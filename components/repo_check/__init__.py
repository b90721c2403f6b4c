"""A GitOps repository checked as Flux sees it: kustomize build, validation, the graph."""
