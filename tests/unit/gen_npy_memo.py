#!/usr/bin/python3
# Writes tests/unit/data/npy-memo/*.npy: object arrays saved by numpy's own
# np.save (Debian's python3-numpy), whose pickles refer back to repeated
# elements through the memo instead of repeating their bytes.
#   dup.npy   BINPUT / BINGET        [b"same"] * 5 + [b"other"]
#   long.npy  LONG_BINPUT / LONG_BINGET (memo ids >= 256) and BINGET:
#             260 distinct 2-byte strings, then elements 259, 3, 259 again
#   str.npy   str elements (BINUNICODE) among bytes, one repeated
#   cut.npy   bytes that are not UTF-8 (a record cut inside a character)
# Usage: /usr/bin/python3 tests/unit/gen_npy_memo.py tests/unit/data/npy-memo
import os, sys
import numpy as np

out = sys.argv[1]
elements = [i.to_bytes(2, "big") for i in range(260)]
arrays = {
    "dup": [b"same"] * 5 + [b"other"],
    "long": elements + [elements[259], elements[3], elements[259]],
    "str": ["caf\u00e9", "t\u00e9", b"raw", "caf\u00e9"],
    "cut": [b"caf\xc3", b"fine", b"\xff\xfeab"],
}
for name, items in arrays.items():
    np.save(os.path.join(out, name + ".npy"), np.array(items, dtype=object), allow_pickle=True)
