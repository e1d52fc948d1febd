"""Reading a /metrics page (Prometheus's text format): its samples and the series names
it exposes, metrics without samples yet included."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_count", "_sum"),
    "summary": ("", "_count", "_sum"),
}


def names(text: str) -> set[str]:
    """Every series name a query may use: a counter's `_total`, a histogram's `_bucket`,
    `_count` and `_sum`, a gauge's own name; from HELP and TYPE too, so a labelled metric
    that has counted nothing yet is there."""
    out: set[str] = set()
    for family in text_string_to_metric_families(text):
        base = family.name.removesuffix("_total") if family.type == "counter" else family.name
        out.update(base + suffix for suffix in _SUFFIXES.get(family.type, ("",)))
    return out


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of the sample `name{labels}` (exactly those labels), None if absent."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return float(found.value)
    return None
