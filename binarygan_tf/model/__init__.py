"""The model: binary neurons, the paper's networks, the objectives and the adversarial
trainer, the exported generator's contract. Imports nothing from the layers above it."""
