"""Tests of components/render/."""
