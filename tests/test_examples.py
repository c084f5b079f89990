"""Fast smoke runs of every example (tiny epochs); they must run and report sane numbers."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from micrograd_nd.data import save_idx

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_train_digits_quick(tmp_path, capsys):
    pytest.importorskip("sklearn")
    result = load_example("train_digits").main(["--quick", "--out-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert result["reloaded"] == result["accuracy"] > 0.5
    assert "reloaded model: test accuracy" in out and "delta rule and autodiff agree" in out
    assert (tmp_path / "digits_mlp_seed0.npz").is_file()
    assert (tmp_path / "digits_scaler_seed0.npz").is_file()


def test_train_digits_compiled_gives_the_same_model(tmp_path, capsys):
    pytest.importorskip("sklearn")
    example = load_example("train_digits")
    eager = example.main(["--quick", "--out-dir", str(tmp_path / "eager")])
    compiled = example.main(["--quick", "--compile", "--out-dir", str(tmp_path / "compiled")])
    assert compiled["accuracy"] == eager["accuracy"]
    saved = [np.load(tmp_path / run / "digits_mlp_seed0.npz") for run in ("eager", "compiled")]
    for name in saved[0].files:
        assert np.array_equal(saved[0][name], saved[1][name]), name


def test_digit_article_sigmoid_quick(capsys):
    pytest.importorskip("sklearn")
    for cost in ("square", "ce"):
        result = load_example("digit_article_sigmoid").main(["--quick", "--cost", cost])
        assert result["gradcheck_relative"] < 1e-4
        assert 0.0 <= result["accuracy"] <= 1.0
    assert "test accuracy" in capsys.readouterr().out


def test_train_mnist_idx_on_a_tiny_fake_dataset(tmp_path, capsys):
    rng = np.random.default_rng(0)
    for kind, count in (("train", 60), ("t10k", 20)):
        labels = rng.integers(0, 10, count).astype(np.uint8)
        images = rng.integers(0, 50, (count, 6, 6)).astype(np.uint8)
        images[np.arange(count), labels % 6, labels // 6 * 3] = 255  # learnable signal
        save_idx(tmp_path / f"{kind}-images-idx3-ubyte", images)
        save_idx(tmp_path / f"{kind}-labels-idx1-ubyte.gz", labels)
    model_path = tmp_path / "model.npz"
    result = load_example("train_mnist_idx").main([
        "--data-dir", str(tmp_path), "--epochs", "2", "--batch-size", "16",
        "--hidden", "8", "--no-progress", "--save", str(model_path),
    ])
    out = capsys.readouterr().out
    assert "60 training and 20 test images of 6×6" in out and "time per epoch" in out
    assert 0.0 <= result["accuracy"] <= 1.0 and model_path.is_file()


def test_two_moons_as_a_script(tmp_path):
    """Run the way the README does (a subprocess), so the script's own entry point is covered."""
    env = dict(os.environ, PYTHONPATH=str(EXAMPLES.parent), MPLBACKEND="Agg")
    png = tmp_path / "moons.png"
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "two_moons.py"), "--quick", "--out", str(png)],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "test accuracy" in done.stdout
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "no plot" in done.stdout
    else:
        assert png.is_file()


def test_vanishing_gradients_example(tmp_path, capsys):
    curves = load_example("vanishing_gradients").main(
        ["--depth", "6", "--width", "16", "--batch", "32", "--out", str(tmp_path)])
    sigmoid, relu = curves["sigmoid"], curves["relu"]
    # The vanishing-gradient article's observation: the first layer's gradient is far smaller than
    # the last's with
    # sigmoid hidden layers, and not with ReLU ones.
    assert sigmoid[0] < 0.05 * sigmoid[-1]
    assert relu[0] > 0.1 * relu[-1]
    assert "‖δ‖" in capsys.readouterr().out


def test_autodiff_tour_example(capsys):
    load_example("autodiff_tour").main()
    out = capsys.readouterr().out
    assert "gradcheck against central differences: True" in out
    assert "nan" not in out.lower()


@pytest.mark.parametrize("problem", ["missing directory", "no files", "corrupt file"])
def test_wrong_data_dir_is_a_usage_error_not_a_traceback(tmp_path, problem):
    data_dir = tmp_path / "mnist"
    if problem != "missing directory":
        data_dir.mkdir()
    if problem == "corrupt file":
        for kind in ("train", "t10k"):
            (data_dir / f"{kind}-images-idx3-ubyte").write_bytes(b"\x12\x34not idx")
            save_idx(data_dir / f"{kind}-labels-idx1-ubyte", np.zeros(3, dtype=np.uint8))
    env = dict(os.environ, PYTHONPATH=str(EXAMPLES.parent))
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "train_mnist_idx.py"), "--data-dir", str(data_dir)],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    expected = {"missing directory": "MNIST directory not found",
                "no files": "no MNIST train images file",
                "corrupt file": "bad magic number"}[problem]
    assert "error: --data-dir:" in done.stderr and expected in done.stderr, done.stderr


# ---- every PNG an example writes can be read at a glance ----------------------------------------
def _check_figure(figure) -> None:
    """Each plot panel has a title (or the figure one), axis labels, and the figure has a
    legend or a colour bar to say what the colours mean."""
    panels = [a for a in figure.axes if a.get_label() != "<colorbar>"]
    has_colorbar = len(panels) < len(figure.axes)
    suptitle = figure._suptitle.get_text() if figure._suptitle is not None else ""
    assert panels
    for axes in panels:
        assert axes.get_title() or suptitle, "a panel without a title"
        assert axes.get_xlabel() and axes.get_ylabel(), f"unlabelled axes: {axes.get_title()}"
        assert axes.get_legend() is not None or has_colorbar, f"no legend: {axes.get_title()}"


@pytest.mark.parametrize("name, argv", [
    ("two_moons", ["--quick", "--out", "{tmp}/moons.png"]),
    ("train_digits", ["--quick", "--out-dir", "{tmp}"]),
    ("vanishing_gradients", ["--depth", "4", "--width", "8", "--batch", "16", "--out", "{tmp}"]),
])
def test_every_png_has_title_labels_and_a_legend(tmp_path, monkeypatch, name, argv):
    pytest.importorskip("matplotlib")
    if name == "train_digits":
        pytest.importorskip("sklearn")
    from matplotlib.figure import Figure

    saved = []
    real_savefig = Figure.savefig

    def checking_savefig(self, path, *args, **kwargs):
        _check_figure(self)
        saved.append(Path(path))
        return real_savefig(self, path, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", checking_savefig)
    load_example(name).main([a.format(tmp=tmp_path) for a in argv])
    assert saved and all(p.suffix == ".png" and p.is_file() for p in saved)
