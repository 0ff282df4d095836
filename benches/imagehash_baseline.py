"""Python's imagehash (pHash + dHash on Pillow) over the throughput corpus.

The issue's outside baseline: what a fact-checker's script does today. Run it
on the corpus `cargo bench --bench throughput` builds, with 1 and 2 processes:

    pip install imagehash pillow
    python3 benches/imagehash_baseline.py target/tmp/throughput/corpus-40-camera 1 2

(`corpus-40` for the all-4:4:4 corpus of `--chroma 444`.)

Each file is opened by Pillow and hashed by imagehash.phash and imagehash.dhash
(which decode the whole picture, convert it to grey and shrink it). Nothing
else: no SHA-256, metadata, PDQ or matching, so this is a lower bound on what a
Python pipeline doing retrace's work would take.
"""

import os
import sys
import time
from multiprocessing import Pool

import imagehash
from PIL import Image


def hash_one(path):
    with Image.open(path) as im:
        return str(imagehash.phash(im)), str(imagehash.dhash(im))


def main():
    corpus = sys.argv[1]
    files = sorted(
        os.path.join(corpus, f)
        for f in os.listdir(corpus)
        if f.lower().endswith((".jpg", ".jpeg"))
    )
    size = sum(os.path.getsize(f) for f in files)
    for procs in [int(a) for a in sys.argv[2:]] or [1]:
        start = time.monotonic()
        if procs == 1:
            hashes = [hash_one(f) for f in files]
        else:
            with Pool(procs) as pool:
                hashes = pool.map(hash_one, files, chunksize=1)
        took = time.monotonic() - start
        assert len(hashes) == len(files)
        print(
            f"imagehash (Pillow {Image.__version__}, imagehash {imagehash.__version__}), "
            f"{procs} process(es): {len(files)} files in {took:.2f} s, "
            f"{len(files) / took:.2f} images/s, {size / took / 1e6:.1f} MB/s"
        )


if __name__ == "__main__":
    main()
