"""Occlusion order: overlapping tracks, larger visible area in front."""

from __future__ import annotations

import numpy as np

from parse_vos_ros.context.occlusion import occlusion_facts, overlap_matrix


def test_overlap_is_intersection_over_smaller_box() -> None:
    boxes = np.array([[0, 0, 10, 10], [5, 5, 7, 7], [20, 20, 30, 30]], float)
    ov = overlap_matrix(boxes)
    assert ov[0, 1] == ov[1, 0] == 1.0  # the small box lies inside the big one
    assert ov[0, 2] == 0.0 and ov[0, 0] == 0.0


def test_larger_visible_area_is_in_front() -> None:
    boxes = np.array([[0, 0, 40, 40], [30, 0, 70, 40], [200, 200, 210, 210]], float)
    facts = occlusion_facts([7, 8, 9], boxes, np.array([1600.0, 900.0, 100.0]))
    assert len(facts) == 1
    assert (facts[0].front_id, facts[0].back_id) == (7, 8)
    assert abs(facts[0].overlap - 0.25) < 1e-9
    facts = occlusion_facts([7, 8], boxes[:2], np.array([500.0, 900.0]))
    assert (facts[0].front_id, facts[0].back_id) == (8, 7)


def test_small_overlaps_are_ignored_and_empty_input_is_fine() -> None:
    boxes = np.array([[0, 0, 10, 10], [9.5, 0, 20, 10]], float)
    assert occlusion_facts([1, 2], boxes, np.array([100.0, 100.0]), min_overlap=0.1) == []
    assert occlusion_facts([], np.zeros((0, 4)), np.zeros(0)) == []
