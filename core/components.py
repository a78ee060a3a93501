"""Connected parts of a mask: the 8-connected components of a coarse grid of it, found by union-find.

General, with no knowledge of garments or backgrounds: core/garment_box.py pools its foreground mask into a
grid of a few thousand cells (coarse_grid) and keeps the largest parts (label_components).
"""

from __future__ import annotations

import numpy as np


def coarse_grid(mask: np.ndarray, cells: int) -> tuple[np.ndarray, int]:
    """The mask pooled ("any") into blocks so that the component search touches a few thousand cells."""
    block = max(1, -(-max(mask.shape) // cells))
    padded_shape = (-(-mask.shape[0] // block) * block, -(-mask.shape[1] // block) * block)
    padded = np.zeros(padded_shape, dtype=bool)
    padded[: mask.shape[0], : mask.shape[1]] = mask
    pooled = padded.reshape(padded_shape[0] // block, block, padded_shape[1] // block, block).any(axis=(1, 3))
    return np.asarray(pooled), block


def label_components(grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """8-connected component labels (0 = empty) and each label's size (index 0 unused).

    Union-find in whole-array numpy steps (Shiloach–Vishkin style): every cell starts as its own root; each
    round, every root is hooked onto the smallest root next to any of its cells, and the trees are then
    flattened by pointer jumping. A few rounds suffice even for long, winding parts, with no per-cell Python.
    scipy.ndimage.label does the same, but scipy would be a large runtime dependency (and another pin to keep)
    for a grid of at most 64×64 cells.
    """
    empty = grid.size  # larger than every cell index
    parent = np.arange(grid.size + 1)  # the extra entry is the empty cells' root
    cells = np.where(grid, np.arange(grid.size).reshape(grid.shape), empty)
    while True:
        roots = np.where(grid, parent[cells], empty)
        nearest = np.where(grid, _smallest_neighbour(roots, empty), empty)
        hooking = nearest < roots
        if not hooking.any():
            break
        np.minimum.at(parent, roots[hooking], nearest[hooking])
        parent = _flatten(parent)
    _, numbered = np.unique(roots[grid], return_inverse=True)
    labels = np.zeros(grid.shape, dtype=np.int32)
    labels[grid] = numbered + 1
    return labels, np.concatenate([[0], np.bincount(numbered)]).astype(np.int64)


def _flatten(parent: np.ndarray) -> np.ndarray:
    """Every entry pointed straight at its root (pointer jumping until nothing changes)."""
    while True:
        jumped = parent[parent]
        if np.array_equal(jumped, parent):
            return parent
        parent = jumped


def _smallest_neighbour(labels: np.ndarray, empty: int) -> np.ndarray:
    """Each cell's smallest label among itself and its eight neighbours."""
    padded = np.pad(labels, 1, constant_values=empty)
    height, width = labels.shape
    smallest = labels.copy()
    for dr in (0, 1, 2):
        for dc in (0, 1, 2):
            np.minimum(smallest, padded[dr : dr + height, dc : dc + width], out=smallest)
    return smallest
