"""The NLU: Rasa pipeline components, training, parsing. Everything language-specific lives here."""
