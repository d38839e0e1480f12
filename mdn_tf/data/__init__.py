"""Pose data."""
