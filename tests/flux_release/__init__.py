"""Tests of components/flux_release/."""
