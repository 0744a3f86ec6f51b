"""Running the authors' own TF1 code (salu133445/binarygan) beside ours, unmodified.

Three uses share this package: `compare_authors.py` trains their code on our data and exports
their generator in our SavedModel contract (compare.py); `tests/test_authors_parity.py`
drives their graph and our trainer step for step from the same weights and random draws; and
`bench/throughput.py --peers=authors` times their training loop.

Their code is TF1 (`tf.Session`, `tf.layers`, `gradient_override_map`) and needs
`TF_USE_LEGACY_KERAS=1` set before TensorFlow is imported, which our Keras 3 code cannot run
under. So their code always runs in a separate process, `python -m binarygan_tf.authors.worker`
(worker.py, with the import-time shims of runtime.py), and talks to ours through JSON requests
and `.npz` arrays of weights and inputs (client.py). The modules:

| module | concept | imports TensorFlow |
| --- | --- | --- |
| repository.py | find and check a checkout, its commit; the temporary copy their code runs from | no |
| presets.py | our --neuron/--objective/--arch -> their model class, presets, optimizer | no |
| runtime.py | the shims, importing and configuring their code, their graph's tensors | TF1 (worker) |
| worker.py | the worker process: train, parity and bench commands | TF1 (worker) |
| draws.py | the inputs and random draws of a parity run, made up front to feed two runs alike | no |
| client.py | starting a worker and reading its answer, from our process | no |
| variable_map.py | their variable names <-> our Keras layers' weights | Keras 3 |
| compare.py | the comparison tool: train theirs, rebuild their G as ours, verify, export | Keras 3 |

Nothing here copies their code: it is imported from the checkout given by `--authors_repo`.
"""
