"""The official Kubernetes client: one way to build an ApiClient, for every command and hook.

`fluxboot status`, `fluxboot validate --server` and the uninstall (`pulumi destroy`) all reach
the API server through `api_client`. The client is imported when first needed: rendering and
the Pulumi program never pay for it.

A kubeconfig with `insecure-skip-tls-verify: true` makes urllib3 warn with
`InsecureRequestWarning` on every request (some seventy lines for one uninstall). Skipping
verification is the kubeconfig's choice, and kubectl does not warn about it either:
`quiet_insecure_requests` keeps those warnings, and only those, quiet.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from components.common import yamlio
from components.common.errors import FluxGitopsError
from components.common.textfiles import UnreadableFileError, read_text

# A kubeconfig map, kubeconfig text (YAML or JSON), a file path, or None (the default kubeconfig).
KubeconfigSource = Mapping[str, Any] | str | os.PathLike[str] | None

# A kubeconfig is a few KB; embedded certificates for many clusters stay far below this.
MAX_KUBECONFIG_BYTES = 16 * 1024 * 1024


class KubeconfigError(FluxGitopsError):
    """The kubeconfig cannot be used."""


@contextlib.contextmanager
def quiet_insecure_requests() -> Iterator[None]:
    """Within: urllib3's InsecureRequestWarning is not shown; every other warning is."""
    from urllib3.exceptions import InsecureRequestWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureRequestWarning)
        yield


def kube_client() -> Any:
    """`kubernetes.client`, imported when needed.

    Typed as Any: the models' Optional fields would need a None check on every access, and what
    the API server returns is checked where it matters.
    """
    import kubernetes.client

    return kubernetes.client


def check_kubeconfig(paths: str, given: bool) -> None:
    """Read each file of a kubeconfig path list (`a:b`, as $KUBECONFIG) as the client will, but
    with this project's checks: a binary, oversized, malformed or alias-bomb file is refused with
    its name, before the client's own loader (plain PyYAML, no bounds) sees it."""
    for part in paths.split(os.pathsep):
        if not part:
            continue
        path = Path(part).expanduser()
        if not path.exists() and not given:
            continue  # the client skips missing files of $KUBECONFIG, and so does this
        try:
            yamlio.load(read_text(path, str(path), MAX_KUBECONFIG_BYTES))
        except UnreadableFileError as err:
            raise KubeconfigError(str(err)) from None
        except yaml.YAMLError as err:
            raise KubeconfigError(f"{path}: not a kubeconfig: {yamlio.one_line(err)}") from None


def _kubeconfig_dict(source: str) -> dict[str, Any] | None:
    """The kubeconfig in `source` if it is kubeconfig text (YAML or JSON), None if it is a path."""
    if "\n" not in source and not source.lstrip().startswith("{"):
        return None
    loaded = yamlio.load(source)  # bounded: a kubeconfig is no place for alias expansion
    if not isinstance(loaded, dict):
        raise ValueError("kubeconfig text is not a YAML/JSON map")
    return loaded


def api_client(source: KubeconfigSource, context: str | None = None) -> Any:
    """A `kubernetes.client.ApiClient` for `context` of a kubeconfig map, text, path, or None.

    None reads the default kubeconfig (`$KUBECONFIG` or `~/.kube/config`); a file is checked
    first (`check_kubeconfig`). Text and maps are loaded in memory: nothing is written next to
    the program, and the kubeconfig is never written back. (The kubernetes client itself still
    writes inline client certificate/key data to private `mkstemp` files, mode 0600, that it
    removes at process exit; token and exec credentials need no file.)
    """
    from kubernetes import config as kube_config

    if isinstance(source, Mapping):
        return kube_config.new_client_from_config_dict(  # type: ignore[no-untyped-call]
            dict(source), context=context, persist_config=False
        )
    if isinstance(source, str):
        loaded = _kubeconfig_dict(source)
        if loaded is not None:
            return kube_config.new_client_from_config_dict(  # type: ignore[no-untyped-call]
                loaded, context=context, persist_config=False
            )
    return _client_from_file(source, context)


def _client_from_file(source: str | os.PathLike[str] | None, context: str | None) -> Any:
    from kubernetes import config as kube_config
    from kubernetes.config.config_exception import ConfigException

    # read $KUBECONFIG now: the client reads it once, when it is imported
    default = os.environ.get("KUBECONFIG") or str(Path("~/.kube/config").expanduser())
    path = os.fspath(source) if source is not None else default
    where = path if source is not None else "the default kubeconfig"
    check_kubeconfig(path, source is not None)
    try:
        return kube_config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=path, context=context, persist_config=False
        )
    except ConfigException as err:
        raise KubeconfigError(f"{where}: {err}") from None
    except OSError as err:
        raise KubeconfigError(f"{err.filename or path}: {err.strerror}") from None
    except (yaml.YAMLError, UnicodeError, ValueError, TypeError, AttributeError) as err:
        # a well-formed YAML file that is no kubeconfig (a list, a string) trips the client
        raise KubeconfigError(f"{where}: not a kubeconfig ({type(err).__name__})") from None
