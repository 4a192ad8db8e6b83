"""Every script in examples/ runs (small data, Agg backend, output into tmp_path)."""

import pathlib
import runpy
import warnings

import pytest

mpl = pytest.importorskip("matplotlib")
mpl.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

EXAMPLES = sorted((pathlib.Path(__file__).parent.parent / "examples").glob("*.py"))


def test_examples_found():
    assert len(EXAMPLES) >= 6


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_runs(path, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FASTGMM_EXAMPLES_SMALL", "1")
    monkeypatch.setenv("FASTGMM_EXAMPLES_OUT", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*non-interactive.*")   # plt.show() under Agg
            ns = runpy.run_path(str(path), run_name="__main__")
        assert plt.get_fignums(), "the example draws a figure"
        for n in plt.get_fignums():
            plt.figure(n).canvas.draw()
    finally:
        plt.close("all")
    out = capsys.readouterr().out
    if path.stem == "plot_classic_1d":
        assert "nearly identical" in out   # the merged fit's warning is shown
        means = sorted(ns["gm"].means_.ravel())
        assert abs(means[0] - 20) < 1.5
        assert abs(means[1] - 40) < 1.5
        assert (ns["gm"].predict(ns["x"][:80]) == ns["gm"].predict(ns["x"][:1])[0]).mean() > 0.9
    if path.stem == "plot_two_gaussians":
        assert "means_" in out
        assert "weights_" in out
    if path.stem == "plot_color_segmentation":
        assert (tmp_path / "segmented.png").stat().st_size > 0
    if path.stem == "plot_out_of_core":
        assert "agree: 1.0000" in out
        assert not (tmp_path / "fastgmm_example_large.dat").exists()   # the example cleans up
    if path.stem == "plot_unscaled_tabular":
        assert ns["gm"].score(ns["X"][ns["test"]]) > ns["truth"].score(ns["X"][ns["test"]]) - 0.2
