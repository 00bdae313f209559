#!/usr/bin/env python3
"""make_cases.py - writes the binary cases of the malformed-input battery (tests/malformed/).

Each case is one file plus a sidecar CASE.expect (see README.md); this script writes the case
files that are awkward to type (binary headers, gzip streams, safetensors) together with their
.expect sidecars. Plain-text cases (CSV, specs, config.json) are written by hand. Run from
anywhere with a plain Python 3 (no third-party modules): python3 tests/malformed/make_cases.py
"""
import gzip
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
SPEC = "mlp:2-3-2,act=relu,norm=none,param=standard,sw2=2,sb2=0,loss=ce"


def write(name, data, args, code, *messages, note="", build=None):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)
    lines = [f"# {note}"] if note else []
    lines.append(f"args: {args}")
    if build:
        lines.append(f"build: {build}")
    lines.append(f"exit: {code}")
    lines += [f"message: {m}" for m in messages]
    with open(os.path.join(HERE, name + ".expect"), "w") as f:
        f.write("\n".join(lines) + "\n")


# ---- NPY --------------------------------------------------------------------------------------
def npy(descr, shape, payload=b"", fortran=False, version=1, header_len=None):
    d = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (
        descr, "True" if fortran else "False",
        "(%s,)" % shape[0] if len(shape) == 1 else "(" + ", ".join(map(str, shape)) + ")")
    pre = 10 if version == 1 else 12
    total = (pre + len(d) + 1 + 63) // 64 * 64
    h = (d + " " * (total - pre - len(d) - 1) + "\n").encode()
    n = len(h) if header_len is None else header_len
    ln = struct.pack("<H", n) if version == 1 else struct.pack("<I", n)
    return b"\x93NUMPY" + bytes([version, 0]) + ln + h + payload


NPY = "info --data npy:{file}"
write("npy_1e12_elements.npy", npy("<f4", (1000000, 1000000), b"\0" * 16), NPY, 1,
      "(1000000, 1000000)", "byte",
      note="a header claiming 10^12 float32 elements in a 144-byte file")
write("npy_shape_overflow.npy", npy("<f4", (4611686018427387904, 8, 8)), NPY, 1,
      "more elements than a 64-bit count can hold",
      note="a shape whose product overflows int64")
write("npy_negative_dim.npy", npy("<f4", (-3, 4)), NPY, 1, "negative dimension", "byte",
      note="a negative dimension")
write("npy_truncated.npy", npy("<f8", (4, 4), b"\0" * 100), NPY, 1, "byte",
      note="16 doubles announced, 100 bytes present")
write("npy_trailing.npy", npy("<i4", (2,), b"\1\0\0\0\2\0\0\0junk"), NPY, 1, "unexpected bytes",
      note="bytes after the data")
write("npy_header_past_end.npy", npy("<f4", (2,), b"", header_len=60000), NPY, 1, "byte",
      note="a header length pointing past the end of the file")
write("npy_bad_magic.npy", b"\x93NUMPX\x01\x00" + b"\0" * 120, NPY, 1, "byte 0",
      note="wrong magic")
write("npy_complex.npy", npy("<c8", (2,), b"\0" * 16), NPY, 1, "c8",
      note="a dtype suri does not read (complex64)")
write("npy_bigendian.npy", npy(">f4", (2,), b"\0" * 8), NPY, 1, ">f4",
      note="big-endian data")
write("npy_fortran.npy", npy("<f4", (2, 2), b"\0" * 16, fortran=True), NPY, 1, "fortran",
      note="Fortran order")
write("npy_nan.npy", npy("<f4", (2, 2), struct.pack("<4f", 1, 2, float("nan"), 4)), NPY, 1,
      "value nan at row 1, column 0 is not finite",
      note="a NaN feature: the data layer names row and column (0-based)")

# ---- IDX --------------------------------------------------------------------------------------
def idx(code, dims, payload=b""):
    return bytes([0, 0, code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + payload


IDX = "info --data idx:{file}"
write("idx_1e12_elements.idx", idx(0x08, (100000, 100000, 100), b"\0" * 64), IDX, 1,
      "(100000, 100000, 100)", "byte",
      note="dims claiming 10^12 bytes of u8 in an 80-byte file")
write("idx_shape_overflow.idx", idx(0x0D, (4294967295,) * 5), IDX, 1,
      "more elements than a 64-bit count can hold", note="a dim product that overflows int64")
write("idx_bad_type.idx", idx(0x07, (2,), b"\0\0"), IDX, 1, "type", "byte 2",
      note="an unknown type code")
write("idx_truncated.idx", idx(0x0C, (10,), b"\0" * 9), IDX, 1, "truncated", "byte",
      note="10 int32 announced, 9 bytes present")
write("idx_zero_dim_overflow.idx", idx(0x08, (3570717908, 4109575411, 0)), IDX, 1,
      note="zero samples but dims whose product overflows: found by fuzz_idx (suri_array_numel)")
write("idx_gz_truncated.idx.gz", gzip.compress(idx(0x08, (4, 4), bytes(range(16))), mtime=0)[:-6],
      IDX, 1, "gzip", note="a gzip stream cut short (a truncated download)")
write("idx_gz_bomb_claim.idx.gz", gzip.compress(idx(0x08, (60000, 28, 28), b"\0" * 10), mtime=0),
      IDX, 1, "1032:1", note="a 60000x28x28 header behind 35 bytes of gzip: over deflate's 1032:1")
write("idx_gz_corrupt.idx.gz", bytes([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]) + b"\xff" * 30, IDX, 1,
      "gzip", note="gzip magic, then garbage")

# ---- safetensors ------------------------------------------------------------------------------
def st(tensors, meta=None, raw_header=None, pad=True):
    """tensors: list of (name, dtype, shape, (begin, end)); data is zeros up to max end."""
    if raw_header is None:
        h = {}
        if meta is not None:
            h["__metadata__"] = meta
        for name, dt, shape, off in tensors:
            h[name] = {"dtype": dt, "shape": list(shape), "data_offsets": list(off)}
        raw_header = json.dumps(h)
    hb = raw_header.encode()
    if pad:
        hb += b" " * (-len(hb) % 8)
    end = max([t[3][1] for t in tensors if t[3][1] >= 0] + [0])
    return struct.pack("<Q", len(hb)) + hb + b"\0" * min(end, 1 << 16)


def model_tensors():
    return [("fc1.weight", "F32", (3, 2), (0, 24)), ("fc1.bias", "F32", (3,), (24, 36)),
            ("fc2.weight", "F32", (2, 3), (36, 60)), ("fc2.bias", "F32", (2,), (60, 68))]


META = {"format": "suri", "format_version": "1", "model_spec": SPEC}
MOD = "info --model {file}"
write("st_header_len_huge.safetensors", struct.pack("<Q", 1 << 62) + b"{}", MOD, 1, "byte",
      note="an 8-byte header length of 2^62")
t = model_tensors()
t[3] = ("fc2.bias", "F32", (2,), (60, 1000000))
data = st(t, META)
data = data[:len(data) - (1 << 16) + 68]  # the data block holds 68 bytes
write("st_offset_past_end.safetensors", data, MOD, 1, "fc2.bias", "byte",
      note="data_offsets ending past the end of the file")
t = model_tensors()
t[0] = ("fc1.weight", "F32", (3, 2), (-24, 0))
write("st_negative_offset.safetensors", st(t, META), MOD, 1, "fc1.weight",
      note="a negative data offset")
t = model_tensors()
t[1] = ("fc1.bias", "F32", (3,), (0, 12))
write("st_overlapping_offsets.safetensors", st(t, META), MOD, 1, "overlap",
      note="two tensors sharing bytes (duplicate offsets)")
t = model_tensors()
t[3] = ("fc2.bias", "F32", (3,), (60, 68))
write("st_dtype_size_mismatch.safetensors", st(t, META), MOD, 1, "fc2.bias",
      note="shape (3,) of F32 needs 12 bytes, offsets give 8")
write("st_shape_overflow.safetensors",
      st([("x", "F32", (1 << 40, 1 << 40), (0, 4))], META), MOD, 1, "x",
      note="a shape whose byte size overflows")
hdr = json.dumps({"__metadata__": META, "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})
hdr = hdr[:-1] + ', "a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}'
write("st_duplicate_name.safetensors", st([("a", "F32", (1,), (0, 8))], raw_header=hdr), MOD, 1,
      "duplicate", note="the same tensor name twice")
write("st_not_json.safetensors", st([], raw_header="{this is not json"), MOD, 1, "byte",
      note="a header that is not JSON")
write("st_huge_model_spec.safetensors",
      st(model_tensors(), dict(META, model_spec="mlp:1000000-1000000-1000000-10")), MOD, 1,
      "model_spec needs", "holds only",
      note="a 300-byte file whose model_spec claims 10^12 weights: refused before allocating")
write("st_missing_tensor.safetensors", st(model_tensors()[:3], META), MOD, 1, "fc2.bias",
      note="a model file without one of the tensors its spec needs")
t = model_tensors()
data = st(t, META)
data = data[:-68 + 8] + struct.pack("<f", float("nan")) + data[-68 + 12:]
write("st_nan_weight.safetensors", data, MOD, 1, "fc1.weight", "NaN",
      note="a NaN in a weight")
write("st_no_model_spec.safetensors", st(model_tensors(), {"format": "suri"}), MOD, 1,
      "model_spec", note="a safetensors file that is not a suri model")

# ---- checkpoints (train --resume on a run directory holding this file) ------------------------
CK_META = {"format": "suri-checkpoint", "model_spec": SPEC, "step": "1", "optim_steps": "1",
           "dropout_calls": "1", "seed": "1", "epoch_correct": "0", "epoch_seen": "8",
           "epoch_loss_sum": "5.5", "real": "f32"}
CK_T = model_tensors() + [("optim.exp_avg", "F32", (64,), (68, 324)),
                          ("optim.exp_avg_sq", "F32", (64,), (324, 580))]
RES = "train --resume {ckptdir} --quiet"
write("ckpt_truncated.safetensors", st(CK_T, CK_META)[:700], RES, 1, "checkpoint.safetensors",
      "byte", note="a checkpoint cut short")
write("ckpt_wrong_model.safetensors", st(CK_T, dict(CK_META, model_spec=SPEC.replace("2-3-2", "2-4-2"))),
      RES, 1, "was written for model", note="a checkpoint of another architecture")
write("ckpt_bad_step.safetensors", st(CK_T, dict(CK_META, step="-5")), RES, 1,
      "step='-5' is not a count", build="f32", note="a negative step in the metadata")
write("ckpt_missing_optim.safetensors", st(CK_T[:4], CK_META), RES, 1, "optim.exp_avg",
      build="f32", note="a checkpoint without the optimizer state")
write("ckpt_huge_optim.safetensors",
      st(CK_T[:4] + [("optim.exp_avg", "F32", (1 << 40,), (68, 324))], CK_META), RES, 1,
      "optim.exp_avg", note="an optimizer tensor claiming 2^40 elements")
print("wrote the binary cases into", HERE)
