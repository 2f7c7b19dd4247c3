"""Prompt templates, shipped inside the installed package as ``recchat.prompts``."""
