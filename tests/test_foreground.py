"""The garment finder's parts: background model, contrast, connected parts, boxes."""

import numpy as np

from core.foreground import Box, contrast_map, find_garment, fit_background, label_components, with_margin


def test_components_are_eight_connected_and_counted():
    grid = np.zeros((6, 6), dtype=bool)
    grid[0, 0] = grid[1, 1] = grid[2, 2] = True  # one diagonal part of 3
    grid[5, 4:6] = True  # a separate part of 2
    labels, sizes = label_components(grid)
    assert sorted(sizes[1:].tolist()) == [2, 3]
    assert labels[0, 0] == labels[2, 2] != labels[5, 5] and labels[3, 3] == 0


def test_background_plane_follows_a_lighting_gradient_despite_a_garment_on_the_edge():
    cols = np.arange(200)[None, :].repeat(100, axis=0)
    gray = (160 + 0.3 * cols).astype(np.uint8)  # 160 on the left to 220 on the right
    gray[0:60, 0:50] = 20  # a dark garment touching the top-left border
    background = fit_background(gray)
    assert abs(background[50, 10] - 163) < 3 and abs(background[50, 190] - 217) < 3


def test_contrast_is_relative_to_the_background_on_light_and_dark():
    light = np.full((50, 50), 200, dtype=np.uint8)
    light[20:30, 20:30] = 0
    dark = 255 - light
    for gray in (light, dark):
        contrast = contrast_map(gray)
        assert contrast[25, 25] > 0.99 and contrast[2, 2] < 0.01


def test_find_garment_on_a_blank_image_is_the_whole_image():
    assert find_garment(np.zeros((40, 30), dtype=np.float32)) == Box(0, 0, 40, 30)


def test_margin_stays_inside_the_image():
    assert with_margin(Box(2, 2, 38, 18), (40, 20), 0.1) == Box(0, 0, 40, 20)


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
