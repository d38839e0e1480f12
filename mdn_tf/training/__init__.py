"""Training of mdn_tf pose models: the command line of training/train_*.py.

`run.main(dataset, argv)` is the whole script; `config.py` its options,
`callbacks.py` the Keras callbacks, `custom_loop.py` the multi-worker loop.
"""
