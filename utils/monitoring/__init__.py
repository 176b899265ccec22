"""Drift and performance monitoring: tests, estimation, chunks, live inputs."""
