"""Kubernetes' name rules (RFC 1123, qualified names), shared by the config model and the CRD validator.

Anchored with `\\Z`, not `$`: Python's `$` also matches before a final newline.
"""

from __future__ import annotations

import re

# A DNS-1123 label: namespaces, cluster names; at most 63 characters.
DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
DNS1123_LABEL_MAX = 63
# A DNS-1123 subdomain: metadata.name of most objects; at most 253 characters.
DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
DNS1123_SUBDOMAIN_MAX = 253


# The name part of a qualified name (label keys, annotation keys, toleration keys).
QUALIFIED_NAME_PART = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]\Z")
QUALIFIED_NAME_PART_MAX = 63


def is_dns1123_label(value: str) -> bool:
    return len(value) <= DNS1123_LABEL_MAX and DNS1123_LABEL.match(value) is not None


def is_dns1123_subdomain(value: str) -> bool:
    return 0 < len(value) <= DNS1123_SUBDOMAIN_MAX and DNS1123_SUBDOMAIN.match(value) is not None


def is_qualified_name(value: str) -> bool:
    """`[prefix/]name`, as Kubernetes' IsQualifiedName: a DNS-1123 subdomain prefix, a name part
    of at most 63 characters."""
    prefix, slash, name = value.rpartition("/")
    if slash and not is_dns1123_subdomain(prefix):
        return False
    return len(name) <= QUALIFIED_NAME_PART_MAX and QUALIFIED_NAME_PART.match(name) is not None
