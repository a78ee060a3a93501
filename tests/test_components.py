"""core/components.py: the 8-connected parts of a grid, checked against a plain flood fill."""

import numpy as np

from core.components import label_components


def test_components_are_eight_connected_and_counted():
    grid = np.zeros((6, 6), dtype=bool)
    grid[0, 0] = grid[1, 1] = grid[2, 2] = True  # one diagonal part of 3
    grid[5, 4:6] = True  # a separate part of 2
    labels, sizes = label_components(grid)
    assert sorted(sizes[1:].tolist()) == [2, 3]
    assert labels[0, 0] == labels[2, 2] != labels[5, 5] and labels[3, 3] == 0


def flood_fill_parts(grid: np.ndarray) -> list[set]:
    """Reference: the 8-connected parts by a plain flood fill, as sets of cells."""
    todo, parts = {tuple(cell) for cell in np.argwhere(grid)}, []
    while todo:
        stack, part = [todo.pop()], set()
        while stack:
            row, col = stack.pop()
            part.add((row, col))
            for neighbour in [(row + dr, col + dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1)]:
                if neighbour in todo:
                    todo.remove(neighbour)
                    stack.append(neighbour)
        parts.append(part)
    return parts


def test_components_match_a_flood_fill_on_random_and_winding_grids():
    rng = np.random.default_rng(0)
    grids = [rng.random(rng.integers(1, 40, 2)) < rng.uniform(0.05, 0.7) for _ in range(60)]
    snake = np.zeros((33, 20), dtype=bool)  # one long winding part: the worst case for label propagation
    snake[::4] = True
    for row in range(0, 29, 4):
        snake[row : row + 4, 19 if row % 8 == 0 else 0] = True
    for grid in [*grids, snake, np.zeros((5, 5), dtype=bool)]:
        labels, sizes = label_components(grid)
        found = [{tuple(cell) for cell in np.argwhere(labels == label)} for label in range(1, len(sizes))]
        assert sorted(map(sorted, found)) == sorted(map(sorted, flood_fill_parts(grid)))
        assert [len(part) for part in found] == sizes[1:].tolist()
