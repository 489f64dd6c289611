"""Reads on progress, one module per sub-domain:

- ``planes``: a resident's planes, levels, trends, learning-curve estimates and skill decay
  (the curve and decay methods themselves: scoring.learning_curves);
- ``assignments``: how far a resident has got on an assignment, and an assignment's completion;
- ``practice``: practice assignments an instructor set;
- ``self_assessment``: self-assessment accuracy, and whether a score stays concealed;
- ``cohort``: the cohort heatmap and who falls behind;
- ``examples``: teaching examples for remediation;
- ``teaching``: the teaching panel of the scan page (correction, self-assessment, dispute).

Every score here is the scan's assessment as reviewed: an instructor's correction in force
counts over the AI's answer (review.selectors.effective_results).
"""
