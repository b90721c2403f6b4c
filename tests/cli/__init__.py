"""Tests of components/cli/."""
