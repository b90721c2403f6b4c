"""Shared by every layer, engine-free: errors, YAML I/O, Kubernetes names, URLs, the repository file set."""
