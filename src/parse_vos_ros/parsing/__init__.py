"""Sentence -> ParsedCommand: the rule parser (embedded), the LLM parser and the JSON schema."""
