"""The TAU Urban Audio-Visual Scenes 2021 reader on trees the tests write, good and bad."""
import shutil

import pytest

from avsc_edge.data import TauDataset
from avsc_edge.errors import DatasetError
from avsc_edge.labels import SCENES


@pytest.fixture
def tree(tiny_dataset, tmp_path):
    dst = tmp_path / "tau"
    shutil.copytree(tiny_dataset, dst)
    return dst


def test_reads_all_splits(tiny_dataset):
    ds = TauDataset(tiny_dataset)
    train, evaluate, test = ds.clips("train"), ds.clips("evaluate"), ds.clips("test")
    assert len(ds.clips("all")) == 20 and len(train) + len(evaluate) == 20
    assert {c.stem for c in train}.isdisjoint({c.stem for c in evaluate})
    assert all(c.label is None for c in test) and {c.stem for c in test} == {c.stem for c in evaluate}
    assert {c.label for c in train} == set(SCENES)
    assert all(c.audio.suffix == ".wav" and c.video.suffix == ".mp4" and c.identifier for c in train)


def _rewrite(path, fn):
    lines = path.read_text().splitlines()
    path.write_text("\n".join(fn(lines)) + "\n")


def test_missing_root_and_meta(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        TauDataset(tmp_path / "nope")
    with pytest.raises(DatasetError, match="meta.csv"):
        TauDataset(tmp_path)


def test_missing_file_names_the_row(tree):
    victim = TauDataset(tree).clips("train")[0]
    victim.video.unlink()
    with pytest.raises(DatasetError, match=r"fold1_train.csv:\d+: .*not found"):
        TauDataset(tree).clips("train")


def test_unknown_label(tree):
    path = tree / "evaluation_setup" / "fold1_train.csv"
    _rewrite(path, lambda ls: [ls[0], ls[1].rsplit("\t", 1)[0] + "\tbeach", *ls[2:]])
    with pytest.raises(DatasetError, match="unknown scene label 'beach'"):
        TauDataset(tree).clips("train")


def test_stems_disagree(tree):
    path = tree / "evaluation_setup" / "fold1_evaluate.csv"
    def swap(ls):
        a = ls[1].split("\t")
        b = ls[2].split("\t")
        a[1] = b[1]
        return [ls[0], "\t".join(a), *ls[2:]]
    _rewrite(path, swap)
    with pytest.raises(DatasetError, match="different stems"):
        TauDataset(tree).clips("evaluate")


def test_comma_separated_file_is_refused(tree):
    path = tree / "evaluation_setup" / "fold1_train.csv"
    _rewrite(path, lambda ls: [l.replace("\t", ",") for l in ls])
    with pytest.raises(DatasetError, match="tab-separated"):
        TauDataset(tree).clips("train")


def test_wrong_field_count_and_unknown_split(tree):
    path = tree / "evaluation_setup" / "fold1_train.csv"
    _rewrite(path, lambda ls: [ls[0], ls[1] + "\textra", *ls[2:]])
    with pytest.raises(DatasetError, match="expected 3"):
        TauDataset(tree).clips("train")
    with pytest.raises(DatasetError, match="unknown split"):
        TauDataset(tree).clips("validation")
