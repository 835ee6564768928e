"""The NLU: the Rasa pipeline components (jieba tokenizer, normaliser, lexicon, flat classifier, entities, emotion),
training, the TensorFlow-free parser that serves, and the background retrainer. Everything language-specific."""
