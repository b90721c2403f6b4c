"""flux-gitops: bootstrap Flux CD with Pulumi and keep its GitOps repository in order."""
