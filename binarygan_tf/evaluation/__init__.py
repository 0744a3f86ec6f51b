"""Measuring exported generators: the metrics, the digit classifier, the figures, sampling."""
