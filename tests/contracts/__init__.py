"""Tests of the contracts family."""
