#!/usr/bin/python3
"""make_io_fixtures.py - small files written by numpy, by Python's gzip and by a safetensors
writer following the spec, for suri's file-format tests (tests/test_io_*.c).

Run with Debian's interpreter (it has numpy and torch):  /usr/bin/python3 tests/ref/make_io_fixtures.py
Writes tests/fixtures/io/ (deterministic: same bytes on every run with the same numpy/torch).

NPY (np.save, or np.lib.format.write_array for other versions). Values follow formulas that the
C tests recompute:
  f4_2x3.npy     float32 (2, 3): 0.5 * i - 1 for flat index i
  f8_scalar.npy  float64 rank 0: 3.25
  u1_5.npy       uint8 (5,): [0, 1, 127, 128, 255]
  i1_4.npy       int8 (4,): [-128, -1, 0, 127]
  i2_2x2.npy     int16 (2, 2): [[-32768, -1], [0, 32767]]
  i4_3.npy       int32 (3,): [-2147483648, 0, 2147483647]
  i8_2x1x2.npy   int64 (2, 1, 2): [-2**63, -1, 0, 2**62 + 1]
  b1_3.npy       bool (3,): [True, False, True]
  f8_0x3.npy     float64 (0, 3)
  f4_v2.npy, f4_v3.npy   f4_2x3's array as format versions 2.0 and 3.0
  f4_fortran.npy float32 (2, 3) Fortran order (refused), f4_big.npy '>f4' (refused),
  c8.npy         complex64 (refused)
IDX (big-endian, LeCun's layout), written with struct; .gz copies with gzip (mtime 0):
  images_u8.idx(.gz)  u8 (3, 4, 5): (7 * i + 3) % 256
  labels_u8.idx.gz    u8 (3,): [7, 2, 1]
  i8_4.idx            i8 (4,): [-128, -1, 0, 127]
  i16_2x3.idx         i16 (2, 3): 1000 * i - 2500
  i32_3.idx           i32 (3,): [-2147483648, 0, 2147483647]
  f32_4.idx           f32 (4,): 0.25 * i - 0.5
  f64_2x2.idx         f64 (2, 2): [[1e300, -1e-300], [3.5, -0.0]]
safetensors (8-byte LE header length, JSON header padded with spaces to 8 bytes, data):
  mixed.safetensors: "__metadata__" {"format": "pt", "note": "unicode ✓ é"} and tensors from
  torch: fc1.weight F32 (3, 2) and fc1.weight.f64 F64 (same values, from torch.nn.Linear with
  seed 0), half F16 (9,) and bhalf BF16 (9,) made from src F64 (9,) by torch's .to() (values are
  float32-exact so torch's conversion through float rounds once), i64 (2,), i32 (3,), i16 (2,),
  i8 (4,), u8 (3,), flags BOOL (3,), scalar F32 rank 0 = 2.5, empty F32 (0, 4).
"""
import gzip
import json
import os
import struct

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "io")


def path(name):
    return os.path.join(OUT, name)


def write_npy():
    f4 = (0.5 * np.arange(6, dtype=np.float32) - 1).reshape(2, 3)
    arrays = {
        "f4_2x3.npy": f4,
        "f8_scalar.npy": np.array(3.25, dtype=np.float64),
        "u1_5.npy": np.array([0, 1, 127, 128, 255], dtype=np.uint8),
        "i1_4.npy": np.array([-128, -1, 0, 127], dtype=np.int8),
        "i2_2x2.npy": np.array([[-32768, -1], [0, 32767]], dtype=np.int16),
        "i4_3.npy": np.array([-2147483648, 0, 2147483647], dtype=np.int32),
        "i8_2x1x2.npy": np.array([-2**63, -1, 0, 2**62 + 1], dtype=np.int64).reshape(2, 1, 2),
        "b1_3.npy": np.array([True, False, True]),
        "f8_0x3.npy": np.zeros((0, 3), dtype=np.float64),
        "f4_fortran.npy": np.asfortranarray(f4),
        "f4_big.npy": f4.astype(">f4"),
        "c8.npy": np.array([1 + 2j], dtype=np.complex64),
    }
    for name, a in arrays.items():
        np.save(path(name), a)
    for version, name in (((2, 0), "f4_v2.npy"), ((3, 0), "f4_v3.npy")):
        with open(path(name), "wb") as f:
            np.lib.format.write_array(f, f4, version=version)


def idx_bytes(code, fmt, shape, values):
    head = struct.pack(">BBBB", 0, 0, code, len(shape)) + struct.pack(">%dI" % len(shape), *shape)
    return head + struct.pack(">%d%s" % (len(values), fmt), *values)


def write_idx():
    imgs = idx_bytes(0x08, "B", (3, 4, 5), [(7 * i + 3) % 256 for i in range(60)])
    files = {
        "images_u8.idx": imgs,
        "i8_4.idx": idx_bytes(0x09, "b", (4,), [-128, -1, 0, 127]),
        "i16_2x3.idx": idx_bytes(0x0B, "h", (2, 3), [1000 * i - 2500 for i in range(6)]),
        "i32_3.idx": idx_bytes(0x0C, "i", (3,), [-2147483648, 0, 2147483647]),
        "f32_4.idx": idx_bytes(0x0D, "f", (4,), [0.25 * i - 0.5 for i in range(4)]),
        "f64_2x2.idx": idx_bytes(0x0E, "d", (2, 2), [1e300, -1e-300, 3.5, -0.0]),
    }
    for name, b in files.items():
        with open(path(name), "wb") as f:
            f.write(b)
    gz = {"images_u8.idx.gz": imgs, "labels_u8.idx.gz": idx_bytes(0x08, "B", (3,), [7, 2, 1])}
    for name, b in gz.items():
        with open(path(name), "wb") as f:
            f.write(gzip.compress(b, mtime=0))


ST_DTYPES = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16",
             torch.bfloat16: "BF16", torch.int64: "I64", torch.int32: "I32", torch.int16: "I16",
             torch.int8: "I8", torch.uint8: "U8", torch.bool: "BOOL"}


def tensor_bytes(t):
    t = t.contiguous()
    if t.dtype == torch.bfloat16:  # numpy has no bfloat16: reinterpret the bits as int16
        return t.view(torch.int16).numpy().astype("<i2").tobytes()
    a = t.numpy()
    return a.astype(a.dtype.newbyteorder("<")).tobytes()


def write_safetensors(name, tensors, metadata):
    header = {"__metadata__": metadata}
    blobs = []
    offset = 0
    for key, t in tensors.items():
        raw = tensor_bytes(t)
        header[key] = {"dtype": ST_DTYPES[t.dtype], "shape": list(t.shape),
                       "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path(name), "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)


def write_st():
    torch.manual_seed(0)
    lin = torch.nn.Linear(2, 3)
    w = lin.weight.detach()
    # float32-exact values: ties at F16 and BF16 precision, a subnormal F16, the F16 maximum,
    # values that overflow F16 (but not BF16), negative zero.
    src = torch.tensor([1.0, 1 + 2**-11, 1 + 3 * 2**-11, 1 + 2**-8, 2**-24, 65504.0, 65520.0,
                        1e6, -0.0], dtype=torch.float64)
    tensors = {
        "fc1.weight": w.to(torch.float32),
        "fc1.weight.f64": w.to(torch.float64),
        "src": src,
        "half": src.to(torch.float16),
        "bhalf": src.to(torch.bfloat16),
        "i64": torch.tensor([-2**63, 2**62 + 1], dtype=torch.int64),
        "i32": torch.tensor([-2147483648, 0, 2147483647], dtype=torch.int32),
        "i16": torch.tensor([-32768, 32767], dtype=torch.int16),
        "i8": torch.tensor([-128, -1, 0, 127], dtype=torch.int8),
        "u8": torch.tensor([0, 128, 255], dtype=torch.uint8),
        "flags": torch.tensor([True, False, True]),
        "scalar": torch.tensor(2.5, dtype=torch.float32),
        "empty": torch.zeros((0, 4), dtype=torch.float32),
    }
    write_safetensors("mixed.safetensors", tensors, {"format": "pt", "note": "unicode ✓ é"})


def main():
    os.makedirs(OUT, exist_ok=True)
    write_npy()
    write_idx()
    write_st()
    total = sum(os.path.getsize(path(n)) for n in os.listdir(OUT))
    print("wrote %d files, %d bytes, to %s" % (len(os.listdir(OUT)), total, OUT))


if __name__ == "__main__":
    main()
