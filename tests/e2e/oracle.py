"""What `flux bootstrap` writes, from flux2's own generator packages (the toolchain's flux-oracle).

`bootstrap(out, **flags)` runs `flux-oracle bootstrap` against the release the toolchain built
offline from the controllers' modules (`share/flux/<release>/bundle`), with the flags `flux
bootstrap git` takes, and returns the three files of `clusters/<c>/flux-system/` it wrote.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.e2e.toolchain import toolchain

FILES = ("gotk-components.yaml", "gotk-sync.yaml", "kustomization.yaml")


def bootstrap(
    bin_dir: Path,
    out: Path,
    *,
    url: str,
    path: str,
    branch: str = "main",
    interval: str = "1m",
    components: list[str] | None = None,
    components_extra: list[str] | None = None,
    registry: str | None = None,
    image_pull_secret: str | None = None,
    toleration_keys: list[str] | None = None,
    network_policy: bool = True,
    cluster_domain: str | None = None,
    log_level: str | None = None,
    watch_all_namespaces: bool = True,
) -> dict[str, str]:
    """{file name: text} of `<out>/<path>/flux-system/` as flux bootstrap writes them."""
    args = [
        str(bin_dir / "flux-oracle"),
        "bootstrap",
        "-bundle",
        str(toolchain.flux_release_dir() / "bundle"),
        "-out",
        str(out),
        "-version",
        toolchain.PINS["flux"]["release"],
        "-url",
        url,
        "-branch",
        branch,
        "-path",
        path,
        "-interval",
        interval,
        f"-network-policy={str(network_policy).lower()}",
        f"-watch-all-namespaces={str(watch_all_namespaces).lower()}",
    ]
    for flag, value in (
        ("-components", ",".join(components or [])),
        ("-components-extra", ",".join(components_extra or [])),
        ("-toleration-keys", ",".join(toleration_keys or [])),
        ("-registry", registry),
        ("-image-pull-secret", image_pull_secret),
        ("-cluster-domain", cluster_domain),
        ("-log-level", log_level),
    ):
        if value:
            args += [flag, value]
    subprocess.run(args, check=True, capture_output=True, text=True)
    base = out / path / "flux-system"
    return {name: (base / name).read_text() for name in FILES}
