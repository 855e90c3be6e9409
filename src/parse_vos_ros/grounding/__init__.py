"""Open-vocabulary candidate detection on keyframes, and detection-to-track association."""
