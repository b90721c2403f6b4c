"""Warnings of the Kubernetes client that say nothing to the user.

A kubeconfig with `insecure-skip-tls-verify: true` makes urllib3 warn with
`InsecureRequestWarning` on every request: some seventy lines for one uninstall. Skipping
verification is the kubeconfig's choice, and kubectl does not warn about it either.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator


@contextlib.contextmanager
def quiet_insecure_requests() -> Iterator[None]:
    """Within: urllib3's InsecureRequestWarning is not shown; every other warning is."""
    from urllib3.exceptions import InsecureRequestWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureRequestWarning)
        yield
