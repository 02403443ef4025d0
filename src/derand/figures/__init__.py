"""One module per paper figure: configuration -> run -> result dataclass -> plot."""
