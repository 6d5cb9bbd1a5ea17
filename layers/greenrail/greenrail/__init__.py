"""Greenrail: event-driven guardrails that make ML workloads on AWS cheaper and lower-carbon."""

__version__ = "0.1.0"
