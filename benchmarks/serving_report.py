"""The report of ``benchmarks/serving.py``: the machine it ran on, figures with their targets (as
text, Markdown and JSON), and the page section it rewrites.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from child_process import BenchmarkError

# --- the report ---------------------------------------------------------------------------------


@dataclass
class Line:
    section: str
    figure: str
    value: str
    target: str = ""
    verdict: str = ""

    def text(self) -> str:
        return f"  {self.figure:<44} {self.value:>44}  {self.target:<16} {self.verdict}".rstrip()


@dataclass
class Report:
    lines: list[Line] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    current: str = ""

    def section(self, name: str, detail: str = "") -> None:
        self.current = name
        print(f"\n== {name}" + (f": {detail}" if detail else ""), flush=True)

    def add(self, figure: str, value: str, target: str = "", passed: bool | None = None) -> None:
        verdict = "" if passed is None else ("PASS" if passed else "FAIL")
        self.lines.append(Line(self.current, figure, value, target, verdict))
        print(self.lines[-1].text(), flush=True)

    def text(self) -> str:
        out, last = [], None
        for line in self.lines:
            if line.section != last:
                out.append(f"\n== {line.section}")
                last = line.section
            out.append(line.text())
        return "\n".join(out)

    def markdown(self) -> str:
        out = ["| | figure | value | target | |", "|---|---|---|---|---|"]
        last = None
        for x in self.lines:
            section, last = ("" if x.section == last else f"**{x.section}**"), x.section
            out.append(f"| {section} | {x.figure} | {x.value} | {x.target} | {x.verdict} |")
        return "\n".join(out)

    def failed(self) -> list[str]:
        return [f"{x.section}: {x.figure}" for x in self.lines if x.verdict == "FAIL"]

    def to_json(self) -> dict[str, Any]:
        table = [dict(x.__dict__) for x in self.lines]
        return {"meta": self.meta, "figures": self.figures, "table": table,
                "failed": self.failed()}  # fmt: skip

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Report:
        return cls([Line(**x) for x in data["table"]], data["figures"], data["meta"])


def update_doc(path: Path, report: Report) -> None:
    """Put the table between the markers of ``path`` (``figures``, or ``soak`` for a soak run),
    or write the table alone."""
    name = "soak" if report.meta.get("soak") else "figures"
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    meta = report.meta
    table = (
        f"{start}\n\nRun of {meta.get('date', '?')} on {meta.get('cpus', '?')} cpus "
        f"({meta.get('cpu', '?')}), load average {meta.get('load_average', '?')} at its start, "
        f"{meta.get('seconds', '?')} s:\n\n```\n{meta.get('command', '?')}\n```\n\n"
        f"{report.markdown()}\n\n{_soak_samples(report.figures)}{end}"
    )
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if start in text and end in text:
        before, _, rest = text.partition(start)
        text = before + table + rest.partition(end)[2]
    else:
        text = table + "\n"
    path.write_text(text, encoding="utf-8")


def _soak_samples(figures: dict[str, Any]) -> str:
    """The soak's samples as a table (empty for other runs)."""
    intervals = figures.get("soak", {}).get("intervals", [])
    if not intervals:
        return ""
    out = ["| t (s) | RSS (MiB) | good req/s | good p99 (ms) | bad not 4xx | errors |",
           "|---|---|---|---|---|---|"]  # fmt: skip
    out += [f"| {x['t']:.0f} | {x['rss_mib']:.1f} | {x['good_per_s']:,.0f} | "
            f"{x['good_p99_ms']:.1f} | {x['bad_not_4xx']} | {x['errors']} |"
            for x in intervals]  # fmt: skip
    return "\n".join(out) + "\n\n"


def summary(result: dict[str, Any], kind: str = "good", rows: int = 1) -> dict[str, Any]:
    """The figures of the requests of ``kind`` in a run, with rows/s and failures counted.

    Raises:
        BenchmarkError: no request of that kind was measured.
    """
    found = result["kinds"].get(kind)
    if not found:
        raise BenchmarkError(f"no {kind} request was measured: {result}")
    failed = sum(n for status, n in found["statuses"].items() if status != "200")
    failed += sum(result["errors"].values())
    return found | {"rows_per_s": rows * found["per_second"], "failed": failed,
                    "errors": result["errors"]}  # fmt: skip


def latency(k: dict[str, Any]) -> str:
    return f"p50 {k['p50_ms']:.2f} ms, p99 {k['p99_ms']:.2f} ms"


def requests(k: dict[str, Any]) -> str:
    return f"{k['per_second']:,.0f} req/s, {latency(k)}"


def rows(k: dict[str, Any]) -> str:
    return f"{k['rows_per_s']:,.0f} rows/s, p50 {k['p50_ms']:.1f} ms"


def target(condition: bool, text: str, passed: bool) -> tuple[str, bool] | tuple[()]:
    """``(text, passed)`` where a target applies, nothing elsewhere (for ``Report.add``)."""
    return (text, passed) if condition else ()


def describe_machine() -> dict[str, Any]:
    import importlib.metadata as md

    cpu = next(
        (x.split(":", 1)[1].strip() for x in Path("/proc/cpuinfo").read_text().splitlines()
         if x.startswith("model name")), platform.processor() or "?",
    ) if Path("/proc/cpuinfo").exists() else platform.processor() or "?"  # fmt: skip
    versions = {}
    for dist in ("maas", "fastapi", "starlette", "uvicorn", "uvloop", "httptools", "lightgbm",
                 "numpy", "orjson", "pyarrow"):  # fmt: skip
        try:
            versions[dist] = md.version(dist)
        except md.PackageNotFoundError:
            versions[dist] = None
    return {"cpus": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "platform": platform.platform(), "versions": versions,
            "load_average": round(os.getloadavg()[0], 2)}  # fmt: skip
