"""`python -m binarygan_tf COMMAND ...`: the same as the installed `binarygan` command."""

from binarygan_tf.commands import main

main()
