"""Tests of components/repo_check/."""
