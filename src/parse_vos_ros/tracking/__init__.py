"""Mask propagation backends and the bounded candidate-track store."""
