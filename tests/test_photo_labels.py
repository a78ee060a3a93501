"""What each clothing photo counts as (training/photos.py): its folder's classes, one footwear class where its kind
was labelled (training/shoe_kinds.tsv), nothing for the none-of-the-ten folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from training.photos import (
    FOLDER_CLASSES,
    NONE_FOLDERS,
    SHOE_KINDS_FILE,
    allowed_masks,
    list_photos,
    read_shoe_kinds,
)

FOOTWEAR = {5, 7, 9}


def test_a_labelled_shoe_allows_its_one_kind_and_the_others_any_footwear(tmp_path):
    table = tmp_path / "kinds.tsv"
    table.write_text("image\tclass_id\tclass\twhat\nsneaker1\t7\tSneaker\tsneakers\nboot1\t9\tAnkle boot\tboots\n")
    kinds = read_shoe_kinds(table)
    assert kinds == {"sneaker1": 7, "boot1": 9}
    listed = [
        ("shoes", Path("shoes/sneaker1.jpg")),
        ("shoes", Path("shoes/pump.jpg")),
        ("t-shirt", Path("t-shirt/boot1.jpg")),
        ("hat", Path("hat/x.jpg")),
    ]
    masks = allowed_masks(listed, {"sneaker1": 7})
    assert np.flatnonzero(masks[0]).tolist() == [7]
    assert np.flatnonzero(masks[1]).tolist() == [5, 7, 9]
    assert np.flatnonzero(masks[2]).tolist() == [0]
    assert not masks[3].any(), "a none-of-the-ten photo allows no class"
    assert read_shoe_kinds(tmp_path / "absent.tsv") == {}


def test_the_shipped_shoe_kinds_are_footwear_classes_with_their_names():
    rows = [line.split("\t") for line in SHOE_KINDS_FILE.read_text().splitlines()[1:]]
    names = {"5": "Sandal", "7": "Sneaker", "9": "Ankle boot"}
    assert rows and all(len(row) == 4 and names[row[1]] == row[2] and row[3] for row in rows)
    assert len({row[0] for row in rows}) == len(rows), "each photo labelled once"
    assert set(read_shoe_kinds().values()) == FOOTWEAR


def test_none_of_the_ten_folders_are_listed_apart_from_the_garments(tmp_path):
    root = tmp_path / "train"
    for folder in ("t-shirt", "hat", "skirt"):
        (root / folder).mkdir(parents=True)
        (root / folder / "a.jpg").write_bytes(b"")
    assert [folder for folder, _ in list_photos(root)] == ["t-shirt"]
    assert [folder for folder, _ in list_photos(root, none_of_the_ten=True)] == ["hat", "skirt"]
    assert not set(NONE_FOLDERS) & set(FOLDER_CLASSES)
