"""Training a model: the settings, the data, the run directory, the callbacks and the
`fit()` loop. Imports the model, nothing above it."""
