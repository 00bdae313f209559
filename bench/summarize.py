"""summarize.py - the table bench/compare.sh prints, from its raw results.

Usage: python3 bench/summarize.py RAW.jsonl GEMM.jsonl
  RAW.jsonl:  one JSON object per benchmark process (suri bench / PyTorch peer), tagged by
              compare.sh (through runone.py) with side (suri|torch), config, pair, mode and
              foreign_cpu (cores used by other processes while it ran).
  GEMM.jsonl: one bench-gemm result per configuration and pair (tagged the same way).
Prints a Markdown table. Per configuration:
  - "clean" pairs: both processes ran with foreign_cpu <= FOREIGN_MAX; medians and ratios use
    only those (all pairs, and a "!" after the pair count, when no pair is clean);
  - median samples/s of each side and the ratio of the medians suri/PyTorch;
  - every per-pair ratio (suri run i / PyTorch run i: adjacent in time), "x" marking a pair
    left out for foreign load;
  - sgemm-bound fraction of each side: GEMM-only time of one step (bench-gemm, median over its
    clean runs; "!" when none was clean) / median measured time of one step;
  - peak resident memory of each process (PyTorch's includes the Python interpreter and the
    torch libraries) and the BLAS kernel set each side reported.
Standard library only.
"""
import json
import statistics
import sys

FOREIGN_MAX = 0.10  # cores; /proc/stat counts in 10 ms ticks, so ~0.02 is noise


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def short_model(spec):
    return spec.split(",")[0].replace("mlp:", "")


def fmt(x, nd=0):
    return "-" if x is None else f"{x:,.{nd}f}"


def clean(r):
    return r.get("foreign_cpu", 0.0) <= FOREIGN_MAX


def gemm_summary(gemm):
    out = {}
    for c in {g["config"] for g in gemm}:
        runs = [g for g in gemm if g["config"] == c]
        ok = [g for g in runs if clean(g)] or runs
        peaks = [g for g in runs if g.get("peak_gflops")]
        peak_ok = any(clean(g) for g in peaks)
        out[c] = {"step_ms": statistics.median(g["step_ms"] for g in ok),
                  "peak_gflops": max(g["peak_gflops"] for g in peaks) if peaks else None,
                  "peak_mark": "" if peak_ok or not peaks else "!",
                  "clean": any(clean(g) for g in runs)}
    return out


def row(c, rs, g):
    s = {r["pair"]: r for r in rs if r["side"] == "suri"}
    t = {r["pair"]: r for r in rs if r["side"] == "torch"}
    pairs = sorted(set(s) | set(t))
    good = [p for p in pairs if all(clean(x[p]) for x in (s, t) if p in x)]
    used = good or pairs
    med = lambda side, k: (statistics.median(side[p][k] for p in used if p in side)
                           if any(p in side for p in used) else None)
    s_sps, t_sps = med(s, "samples_per_s"), med(t, "samples_per_s")
    ratio = s_sps / t_sps if s_sps and t_sps else None
    ratios = " ".join(f"{s[p]['samples_per_s'] / t[p]['samples_per_s']:.2f}"
                      + ("" if p in good else "x") for p in pairs if p in s and p in t)
    gms = g.get("step_ms")
    frac = lambda side: gms / med(side, "ms_per_step") if gms and med(side, "ms_per_step") else None
    bad = "" if g.get("clean", True) else "!"  # no bench-gemm run had the machine to itself
    ref = (list(s.values()) or list(t.values()))[0]
    blas = (f"{next(iter(s.values()))['blas'] if s else '-'} / "
            f"{next(iter(t.values()))['blas'] if t else '-'}")
    n = f"{len(good)}/{len(pairs)}" + ("" if good else "!")
    return (f"| {c} | {ref['mode']} | {short_model(ref['model'])} | {ref['batch']} | "
            f"{ref['threads']} | {n} | {fmt(s_sps)} | {fmt(t_sps)} | **{fmt(ratio, 2)}** | "
            f"{ratios or '-'} | {fmt(frac(s), 2)}{bad} | {fmt(frac(t), 2)}{bad} | "
            f"{fmt(med(s, 'gflops'), 1)} | {fmt(g.get('peak_gflops'), 0)}{g.get('peak_mark', '')} | "
            f"{fmt(med(s, 'peak_rss_mb'))} / {fmt(med(t, 'peak_rss_mb'))} | {blas} |")


def main():
    raw, gemm = load(sys.argv[1]), load(sys.argv[2])
    gs = gemm_summary(gemm)
    order = []
    for r in raw:
        if r["config"] not in order:
            order.append(r["config"])
    print()
    print("| cfg | mode | model | batch | thr | clean pairs | suri samples/s | PyTorch samples/s "
          "| suri/PyTorch | per-pair ratios | sgemm-bound suri | sgemm-bound PyTorch "
          "| suri GFLOP/s* | sgemm peak GFLOP/s | peak RSS MB suri / PyTorch | BLAS suri / PyTorch |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for c in order:
        print(row(c, [r for r in raw if r["config"] == c], gs.get(c, {})))
    reals = {r.get("real", "f32") for r in raw if r["side"] == "suri"}
    if reals - {"f32"}:
        print(f"\nWARNING: suri ran with suri_real = {', '.join(sorted(reals))} (a SURI_DOUBLE "
              "build?) while PyTorch runs float32: the comparison is not like for like.")
    print()
    print("samples/s: median over the clean pairs (neither process shared the machine with more "
          f"than {FOREIGN_MAX} of a core of other work; x marks a pair left out, ! means no pair "
          "was clean and all were used). suri/PyTorch: ratio of the medians (> 1: suri faster). "
          "sgemm-bound: time of the step's GEMMs alone (bench-gemm) / median step time (1.00 = "
          "nothing but GEMM time; ! = every bench-gemm run shared the machine; it can exceed 1 with 2 threads on small shapes, where "
          "OpenBLAS's own timing varies from run to run). *GEMM flops actually run: per layer "
          "2*B*in*out forward, the same for the weight gradient and for the input gradient "
          "(not for the first layer); 2*B*in*out per layer for inference (the same count for "
          "both sides).")


if __name__ == "__main__":
    main()
