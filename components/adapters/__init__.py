"""The outside world: the Git writer and the Kubernetes API (status, dry-run, uninstall)."""
