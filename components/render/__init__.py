"""One stack from config to validated files in the GitOps repository."""
