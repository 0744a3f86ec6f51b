"""tools/make_glyphs.py: the offline worked example's data set, on a few hundred glyphs."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from binarygan_tf.errors import UserError
from tests.helpers import ROOT
from tools import make_glyphs

NUM = 300


@pytest.fixture(scope="module")
def glyphs():
    return make_glyphs.make_glyphs(NUM, seed=0)


def test_images_are_binary_and_shaped_as_asked(glyphs):
    images = glyphs["images"]
    assert images.shape == (NUM, 28, 28) and images.dtype == np.uint8
    assert set(np.unique(images)) == {0, 1}
    assert glyphs["labels"].shape == glyphs["styles"].shape == (NUM,)
    assert glyphs["labels"].min() >= 0 and glyphs["labels"].max() < 26
    assert glyphs["styles"].min() >= 0 and glyphs["styles"].max() < len(make_glyphs.STYLES)


def test_every_letter_and_style_appears_and_no_two_images_are_alike(glyphs):
    """300 draws of 26 letters: a letter is missing with probability 26 (25/26)^300 < 1e-4."""
    assert len(set(glyphs["labels"].tolist())) == 26
    assert len(set(glyphs["styles"].tolist())) == len(make_glyphs.STYLES)
    # The jitter is continuous, so even the same letter in the same style differs.
    assert len({image.tobytes() for image in glyphs["images"]}) == NUM


def test_density_is_that_of_letters_inside_the_image(glyphs):
    """Letters filling 20/28 of the image cover a few tenths of it (binarized MNIST: 0.19),
    every image has ink, and no ink touches the border (turns, scales and moves were chosen
    to keep glyphs inside)."""
    images = glyphs["images"]
    assert 0.1 < images.mean() < 0.3
    assert images.reshape(NUM, -1).sum(axis=1).min() > 20
    border = images.copy()
    border[:, 1:-1, 1:-1] = 0
    assert border.sum() == 0


def test_the_same_seed_gives_the_same_images_and_another_seed_others(glyphs):
    again = make_glyphs.make_glyphs(NUM, seed=0)
    other = make_glyphs.make_glyphs(NUM, seed=1)
    np.testing.assert_array_equal(again["images"], glyphs["images"])
    np.testing.assert_array_equal(again["labels"], glyphs["labels"])
    assert np.mean(other["images"] != glyphs["images"]) > 0.05


@pytest.mark.parametrize("size", [16, 33])
def test_other_sizes_and_characters(size):
    out = make_glyphs.make_glyphs(40, size=size, seed=2, chars="0123456789")
    assert out["images"].shape == (40, size, size)
    assert out["labels"].max() < 10 and 0.05 < out["images"].mean() < 0.35
    assert out["info"]["chars"] == "0123456789" and out["info"]["size"] == size


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num": 0}, "--num"),
        ({"size": 4}, "--size"),
        ({"chars": "AA"}, "--chars"),
        ({"chars": "A B"}, "--chars"),
        ({"chars": ""}, "--chars"),
    ],
)
def test_bad_arguments_are_one_line_errors(kwargs, message):
    with pytest.raises(UserError, match=message):
        make_glyphs.make_glyphs(**{"num": 5, **kwargs})


def test_the_file_is_reproducible_to_the_byte_and_loads_without_pickle(tmp_path, glyphs):
    first, second = tmp_path / "a.npz", tmp_path / "b.npz"
    make_glyphs.write_npz(first, glyphs)
    make_glyphs.write_npz(second, make_glyphs.make_glyphs(NUM, seed=0))
    assert first.read_bytes() == second.read_bytes()
    with np.load(first, allow_pickle=False) as stored:
        assert sorted(stored.files) == ["images", "info", "labels", "styles"]
        np.testing.assert_array_equal(stored["images"], glyphs["images"])
        info = json.loads(str(stored["info"]))
    assert (
        info["seed"] == 0 and info["num"] == NUM and info["chars"] == "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    )
    assert info["styles"] == list(make_glyphs.STYLES)


def _run(*args):
    return subprocess.run(
        [sys.executable, os.path.join("tools", "make_glyphs.py"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )


def test_the_command_writes_the_file_and_the_preview(tmp_path):
    out, preview = tmp_path / "g.npz", tmp_path / "fig" / "real.png"
    result = _run(f"--out={out}", f"--preview={preview}", "--num=64", "--size=20")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("64 glyphs of 20 x 20 (26 characters x 8 font styles)")
    with np.load(out) as stored:
        assert stored["images"].shape == (64, 20, 20)
    assert preview.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_command_with_nothing_to_write_is_a_one_line_error():
    result = _run("--num=5")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: nothing to write: pass --out=FILE.npz and/or --preview=FILE.png."
    ]
