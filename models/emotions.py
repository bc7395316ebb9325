"""Plutchik's eight basic emotions: the labels of koe's emotion head (presence of each, multi-label)."""

EMOTION_LABELS = {
    "joy": "喜び",
    "trust": "信頼",
    "fear": "恐れ",
    "surprise": "驚き",
    "sadness": "悲しみ",
    "disgust": "嫌悪",
    "anger": "怒り",
    "anticipation": "期待",
}
EMOTIONS = list(EMOTION_LABELS)  # the head's output order
