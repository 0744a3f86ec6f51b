"""Where the package's own files are, found once (so moving a module moves no path)."""

import os

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
# The checkout's top when the package runs from a checkout (train.py, docs/, models/ beside
# it); for an installed wheel, the site-packages folder, which holds none of them.
CHECKOUT_DIR = os.path.dirname(PACKAGE_DIR)
# The experiment flagfiles: installed, they ship inside the package (pyproject.toml maps
# flags/ to binarygan_tf/flags/); in a checkout, flags/ beside the package.
FLAGFILE_DIRS = (os.path.join(PACKAGE_DIR, "flags"), os.path.join(CHECKOUT_DIR, "flags"))
