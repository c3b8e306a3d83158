"""`l4 demo`: a demo scenario replayed through the driving graph, reported and scored.

It drives tools.scenario (the drive), `l4 replay` and `l4 report` (stack) and tools.eval.
"""
