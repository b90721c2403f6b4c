// Not built: the sources of every controller of the pinned Flux release (the versions flux2's
// manifests/bases name), pinned by go.sum. The oracle's release step builds each controller's
// config/crd and config/manager from them, as the controllers' releases do (../../pins.toml).
module flux-gitops.invalid/toolchain/flux-sources

go 1.26

require (
	github.com/fluxcd/helm-controller v1.6.3
	github.com/fluxcd/image-automation-controller v1.2.4
	github.com/fluxcd/image-reflector-controller v1.2.4
	github.com/fluxcd/kustomize-controller v1.9.4
	github.com/fluxcd/notification-controller v1.9.3
	github.com/fluxcd/source-controller v1.9.4
	github.com/fluxcd/source-watcher/v2 v2.2.3
)
