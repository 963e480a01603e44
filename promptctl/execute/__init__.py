"""Execution: the model layer (litellm, in ``llm`` only), cache, recordings and the async runner."""
