"""Fashion-MNIST from the repository's own copy of the original IDX files, and captions made from labels."""
import gzip
import os
import random

import numpy as np

DATA_DIR = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'packages', 'data-fashion-mnist', 'data')

CLASS_WORDS = ['t-shirt', 'pair of trousers', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'ankle boot']
TEMPLATES = ['a photo of a {}', 'a {}', 'a grey {}', 'a picture of a {}', 'a small photo of a {}', 'a {} on a black background']


def read_idx(name: str) -> np.ndarray:
    with gzip.open(os.path.join(DATA_DIR, name), 'rb') as f:
        raw = f.read()
    dims = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], 'big') for i in range(dims))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load(split: str = 'train') -> tuple[np.ndarray, np.ndarray]:
    prefix = 'train' if split == 'train' else 't10k'
    return read_idx(f'{prefix}-images-idx3-ubyte.gz'), read_idx(f'{prefix}-labels-idx1-ubyte.gz')


def all_captions() -> list[str]:
    return [t.format(w) for w in CLASS_WORDS for t in TEMPLATES]


def caption_for(label: int, rng: random.Random) -> str:
    return rng.choice(TEMPLATES).format(CLASS_WORDS[label])
