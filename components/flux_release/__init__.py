"""A Flux release: its install manifest, the objects `flux install` and `flux bootstrap` make, its CRDs."""
