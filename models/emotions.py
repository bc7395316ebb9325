"""Plutchik's eight basic emotions: the labels of koe's emotion head (presence of each, multi-label)."""

EMOTIONS = ["joy", "trust", "fear", "surprise", "sadness", "disgust", "anger", "anticipation"]
