"""User info in URLs: every form is found, and redacted from any text (`components.common.urls`)."""

from __future__ import annotations

import pytest

from components.common.urls import credential_in, redact, user_info

SECRET = "s3cr3t-T0KEN"

# (text with SECRET in the user info of a URL, what the URL reads as once redacted)
LEAKY = [
    (f"https://deploy:{SECRET}@host/x.git", "https://***@host/x.git"),
    (f"http://{SECRET}@host/r.git", "http://***@host/r.git"),  # a token in the user slot
    (f"https://{SECRET}:x-oauth-basic@github.com/o/r", "https://***@github.com/o/r"),
    (f"https://u:pa@ss{SECRET}@host/r.git", "https://***@host/r.git"),  # `@` in the password
    (f"https://u:pa/ss{SECRET}@host/r.git", "https://***@host/r.git"),  # `/` in the password
    (f"https://u:{SECRET}/x@y@host:8443/r", "https://***@host:8443/r"),
    (f"https://u:{SECRET}'q@host/r", "https://***@host/r"),  # a quote in the password
    (f"https://u:{SECRET}@[::1]:8080/x", "https://***@[::1]:8080/x"),
    (f"https://:{SECRET}@h", "https://***@h"),
    (f"https://u:{SECRET}%40x@h?x=1", "https://***@h?x=1"),
    (f"oci://robot:{SECRET}@registry.example.com/charts", "oci://***@registry.example.com/charts"),
    (f"ssh://git:{SECRET}@host/x.git", "ssh://***@host/x.git"),  # ssh: a password goes
    (f"HTTPS://u:{SECRET}@HOST/x", "HTTPS://***@HOST/x"),
]


@pytest.mark.parametrize(("url", "redacted"), LEAKY)
def test_every_form_of_user_info_is_redacted(url: str, redacted: str) -> None:
    assert redact(url) == redacted
    assert credential_in(url) is not None
    # inside the text Git writes around it, too
    for text in (
        f"fatal: unable to access '{url}/': The requested URL returned error: 403",
        f'fatal: could not read Password for "{url}": terminal prompts disabled',
        f"pushed 1234 to main of {url} (3 files)",
        f"({url})",
    ):
        out = redact(text)
        assert SECRET not in out, out
        assert redacted in out, out


@pytest.mark.parametrize(
    "text",
    [
        "ssh://git@gitlab.com/a/b.git",  # an ssh login name is not a credential
        "https://gitlab.com/a/b.git",
        "git@github.com:org/repo.git",
        "image: ghcr.io/fluxcd/source-controller:v1.7.0@sha256:0123abcd",
        '{"url": "https://h/x", "email": "a@b.c"}',
        "no URL at all, a@b.c",
    ],
)
def test_text_without_credentials_is_left_alone(text: str) -> None:
    assert redact(text) == text
    assert credential_in(text) is None


def test_user_info_splits_user_and_password() -> None:
    info = user_info("https://u:p@ss@host/x")
    assert info is not None and (info.user, info.password) == ("u", "p@ss")
    info = user_info("http://TOKEN@host")
    assert info is not None and (info.user, info.password) == ("TOKEN", None)
    assert user_info("/srv/git/fleet.git") is None
    assert user_info("https://host/x") is None


def test_every_error_of_the_project_is_redacted_whoever_shows_it() -> None:
    """`pulumi preview` shows `str(err)` of a FluxGitopsError with no redacting output around
    it (a manifest mirror URL, a Git remote in an error)."""
    from components.adapters.git_writer import GitWriterError
    from components.common.errors import FluxGitopsError, ManifestError

    for cls in (FluxGitopsError, ManifestError, GitWriterError):
        err = cls(f"cannot download https://u:{SECRET}@mirror.example.com/v2.9.4/install.yaml")
        assert SECRET not in str(err)
        assert "https://***@mirror.example.com/" in str(err)
