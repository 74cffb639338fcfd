"""The metric registry (NV metrics/metric_defaults.py, ADA metrics/metric_main.py): a metric is a function
registered under its protocol name (`fid50k`, `mode_counts_24k`, ...) with its keyword arguments;
`run_training.py --metrics` and `run_metrics.py` accept exactly these names."""

from stylegan2.errors import UserError

_METRICS = {}


def register_metric(metric_name, fn, **kwargs):
    """`fn(ctx, **kwargs)` -> {result name: float} (ctx: stylegan2.metrics.runner.MetricContext)."""
    _METRICS[metric_name] = (fn, kwargs)


def list_metrics():
    return sorted(_METRICS)


def get_metric(name):
    """(fn, kwargs) of a registered metric."""
    if name not in _METRICS:
        raise UserError(f"unknown metric {name!r}; available: {', '.join(list_metrics()) or 'none yet'}")
    return _METRICS[name]


def parse_metrics(text):
    """'fid50k,pr50k3' -> ['fid50k', 'pr50k3']; 'none' or '' -> []; unknown names -> one UserError naming them."""
    names = [n.strip() for n in (text or "").split(",") if n.strip() and n.strip().lower() != "none"]
    unknown = [n for n in names if n not in _METRICS]
    if unknown:
        raise UserError(f"--metrics {text}: unknown metric(s) {', '.join(unknown)}; available: "
                        f"{', '.join(list_metrics()) or 'none yet (pass --metrics=none)'}")
    return names
