"""Tests of components/common/."""
