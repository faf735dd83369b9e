"""Collect the per-stage result files (bench/results/*.md) into bench/RESULTS.md, in pipeline order."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ["import", "search", "plan", "ingest", "pack", "mirror", "web", "features", "cluster-compact", "cluster"]
HEADER = """# Benchmark results

Every benchmark runs its anchor on the same input in the same run and prints both figures and their ratio. All
figures here come from the shared 2-core development machine, which was heavily loaded by parallel work while they
were taken (each section quotes its load average): ratios measured in the same run are the figures to trust;
absolute rates are pessimistic. Each stage keeps its section in `bench/results/NAME.md`; `python
bench/collect_results.py` collects them here.
"""


def main() -> None:
    files = {p.stem: p for p in (HERE / "results").glob("*.md")}
    names = [n for n in ORDER if n in files] + sorted(n for n in files if n not in ORDER)
    text = HEADER + "".join("\n\n" + files[n].read_text().strip() + "\n" for n in names)
    (HERE / "RESULTS.md").write_text(text)
    print(f"bench/RESULTS.md: {', '.join(names)}")


if __name__ == "__main__":
    main()
