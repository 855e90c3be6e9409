"""Trajectory serialization, motion reasoners (rule, LLM) and pose verifiers (embedded, CLIP)."""
