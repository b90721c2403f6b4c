"""Tests of components/config/."""
