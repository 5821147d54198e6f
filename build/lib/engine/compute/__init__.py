"""The evaluation: windows, indicators, scores, funding models, decisions and money; what-if comparisons. No I/O."""
