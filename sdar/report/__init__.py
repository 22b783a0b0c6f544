"""Reports on a finished (or running) run directory: training curves and a trajectory viewer.

- `plots`: `plot_runs` (PNG curves from `metrics.jsonl`, several runs overlaid) and `cli_plot` (`sdar plot`);
- `viewer`: `write_viewer` (one self-contained HTML file from `samples.jsonl`) and `cli_view` (`sdar view`);
- `rundir`: reading `config.json` and the JSONL logs, `RunError` for a path that is not a run directory.
Both only read what the training loop wrote; neither imports torch or a model. matplotlib is imported
only when a plot is drawn.
"""

from sdar.report.plots import cli_plot, plot_runs
from sdar.report.rundir import RunError
from sdar.report.viewer import cli_view, write_viewer

__all__ = ["RunError", "cli_plot", "cli_view", "plot_runs", "write_viewer"]
