"""train/logging.py: the CSV log, the epoch line, the progress bar switch."""
import io

from chainrule.train.logging import FIELDS, CSVLog, format_epoch, progress_bar, read_csv

REC = {"epoch": 3, "train_loss": 0.41234, "train_acc": 0.8512, "val_loss": 0.39,
       "val_acc": 0.8601, "lr": 1e-3, "seconds": 12.34}


def test_csv_rows_and_rewrite_on_resume(tmp_path):
    path = tmp_path / "log.csv"
    log = CSVLog(path)
    log.append(REC)
    log.append({**REC, "epoch": 4, "val_loss": None, "val_acc": None})
    rows = read_csv(path)
    assert path.read_text().splitlines()[0] == ",".join(FIELDS)
    assert rows[0] == REC and rows[1]["val_acc"] is None and rows[1]["epoch"] == 4
    CSVLog(path, history=[REC])  # a resumed run rewrites the rows it knows
    assert read_csv(path) == [REC]


def test_epoch_line():
    line = format_epoch(REC, 30, best=True)
    assert line == ("epoch  3/30  train loss 0.4123 acc  85.12%  val loss 0.3900 acc  86.01%  "
                    "lr 1.00e-03  12.3s *")
    short = format_epoch({**REC, "train_acc": None, "val_loss": None, "val_acc": None,
                          "seconds": 0.123}, 5)
    assert short == "epoch 3/5  train loss 0.4123  lr 1.00e-03  0.12s"


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_only_on_a_terminal():
    assert list(progress_bar(range(3), enabled=True, stream=io.StringIO())) == [0, 1, 2]
    assert type(progress_bar(range(3), enabled=True, stream=io.StringIO())).__name__ == "_NoBar"
    assert type(progress_bar(range(3), enabled=False, stream=_Tty())).__name__ == "_NoBar"
    stream = _Tty()
    bar = progress_bar(range(3), total=3, desc="epoch 1/2", stream=stream)
    for _ in bar:
        bar.set_postfix_str("loss 0.5")
    bar.close()
    assert "epoch 1/2" in stream.getvalue()
