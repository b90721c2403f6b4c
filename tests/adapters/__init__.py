"""Tests of components/adapters/."""
