"""LLM runtimes (llama.cpp GGUF, OpenAI-compatible HTTP), prompts and grammars."""
